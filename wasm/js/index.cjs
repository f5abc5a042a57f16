// `require('datalith')` in Node (the "require" condition of package.json's exports).
// The API is an ES module, which Node before 20.19 cannot require(): init() loads it
// with import(), alike on every version. The Uuid class is not here: d.uuid(text)
// makes one.
'use strict';

exports.init = () => import('./node.js').then((m) => m.init());
