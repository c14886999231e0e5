/** The saga engine's public entry: defineSaga, the engine, the typed outcomes (usage: define.ts). */
export * from './define.js';
export {
  SagaEngine, SAGA_STEP_ATTEMPTS_MAX, SAGA_STEP_TIMEOUT_MS, SAGA_SWEEP_MAX, type DriveOptions, type IdentifiedCommand, type SagaEngineOptions, type SendOptions, type SweepResult,
} from './engine.js';
export { sagaMetrics, type SagaMetrics } from './metrics.js';
export { decodeOutcome, refusalReason, type NoticeLike } from './outcome.js';
export { requestOf } from './send.js';
export type { DecisionRecord, GenericSagaStore, SagaCount, SagaMove, SagaRecord, SagaShape, SagaStore } from '../journal/sagas.js';
export { genericSagaStore } from '../journal/sagas.js';
