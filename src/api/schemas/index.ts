/**
 * The API's zod schemas: the single source of its request and response types and of the OpenAPI
 * document, one module per area. Imported in this order, which is the order of the document's
 * components (zod registers a schema's id when its module is evaluated).
 */
export * from './common.js';
export * from './members.js';
export * from './ledger.js';
export * from './dealing.js';
