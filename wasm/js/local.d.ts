// Types of `datalith/local` (local.js): the package's API, on the module for local
// databases only (a replica or a published database is refused at run time).
export * from './index.js';
