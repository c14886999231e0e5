import { Counter, Gauge, Registry } from 'prom-client';

/**
 * The saga engine's progress for Prometheus, registered once per registry however many engines a
 * process builds (the desks share them): sagas by saga and state, steps sent, outcomes by kind, sweeps,
 * and the sagas left past their retry bound.
 */
export interface SagaMetrics {
  readonly registry: Registry;
  /** Unfinished sagas by saga and state, as the last sweep counted them. */
  readonly sagas: Gauge<'saga' | 'state'>;
  readonly stepsSent: Counter<'saga' | 'step'>;
  readonly outcomes: Counter<'saga' | 'kind'>;
  readonly moves: Counter<'saga' | 'from' | 'to'>;
  readonly sweeps: Counter<'saga'>;
  readonly exhausted: Counter<'saga'>;
}

const registered = new WeakMap<Registry, SagaMetrics>();
/** Where the metrics go when the process names no registry (tests, tools). */
const defaultRegistry = new Registry();

export function sagaMetrics(registry: Registry = defaultRegistry): SagaMetrics {
  const known = registered.get(registry);
  if (known !== undefined) return known;
  const registers = [registry];
  const metrics: SagaMetrics = {
    registry,
    sagas: new Gauge({ name: 'potledger_sagas', help: 'Unfinished sagas by saga and state, at the last sweep', labelNames: ['saga', 'state'], registers }),
    stepsSent: new Counter({
      name: 'potledger_saga_steps_sent_total', help: 'Saga steps sent (a fan-out counts once), by saga and step', labelNames: ['saga', 'step'], registers,
    }),
    outcomes: new Counter({
      name: 'potledger_saga_outcomes_total', help: 'Outcomes of saga steps by kind (applied, rejected, conflict, fanned-out, none, error)', labelNames: ['saga', 'kind'], registers,
    }),
    moves: new Counter({ name: 'potledger_saga_moves_total', help: 'Saga state changes made by this process', labelNames: ['saga', 'from', 'to'], registers }),
    sweeps: new Counter({ name: 'potledger_saga_sweeps_total', help: 'Sweeps of unfinished sagas', labelNames: ['saga'], registers }),
    exhausted: new Counter({
      name: 'potledger_saga_exhausted_total', help: 'Sagas left in their state past the retry bound of a step, for an operator', labelNames: ['saga'], registers,
    }),
  };
  registered.set(registry, metrics);
  return metrics;
}
