/** The pure ledger core: no I/O, no clock, no randomness. Everything outside src/ledger imports from here. */
export * from './accounts.js';
export * from './admission.js';
export * from './allocation.js';
export * from './assets.js';
export * from './calendar.js';
export * from './decimal.js';
export * from './errors.js';
export * from './fingerprint.js';
export * from './movement.js';
export * from './orders.js';
export * from './partition.js';
export * from './payload.js';
export * from './process.js';
export * from './reference.js';
export * from './registry.js';
export * from './runner.js';
export { ledgerProcesses, PROCESSES } from './processes/index.js';
export * from './wire.js';
