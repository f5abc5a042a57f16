// `require('datalith/local')` in Node (the "require" condition of package.json's
// exports): init() loads the ES module (node-local.js) with import(), as index.cjs does.
'use strict';

exports.init = () => import('./node-local.js').then((m) => m.init());
