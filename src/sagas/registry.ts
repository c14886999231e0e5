import { rebalanceBatchSaga } from '../dealing/rebalance-saga.js';
import { tradeDealingSaga } from '../dealing/trade-saga.js';
import { conversionSaga } from '../payments/conversions.js';
import { PAYMENT_SAGAS } from '../payments/sagas.js';
import type { Saga } from './define.js';

/**
 * Every saga of the house, by name, as src/ledger/registry.ts is for processes: registering a saga here
 * gives its catalogue entry (docs/CATALOGUE.md, `npm run docs:catalogue`) and its generated property test
 * (test/properties/sagas.test.ts). Adding a saga: define it beside its desk, add one line here.
 */
export interface SagaRegistry {
  find(name: string): Saga | undefined;
  list(): readonly Saga[];
}

/**
 * A saga as the registry holds it, its states and data no longer typed: sound as long as what is given
 * back to it (a state, an example) came from it, which is all the catalogue and the property test do.
 */
export function registered<S extends string, D>(saga: Saga<S, D>): Saga {
  return saga as unknown as Saga;
}

export function sagaRegistry(sagas: readonly Saga[]): SagaRegistry {
  const byName = new Map<string, Saga>();
  for (const saga of sagas) {
    if (byName.has(saga.name)) throw new RangeError(`saga ${saga.name} is registered twice`);
    byName.set(saga.name, saga);
  }
  const list = Object.freeze([...byName.values()]);
  return { find: (name) => byName.get(name), list: () => list };
}

/** Every saga: the payment kinds, conversions, a trade's dealing and a re-balance run's batches. */
export const SAGAS: readonly Saga[] = [...PAYMENT_SAGAS.map(registered), registered(conversionSaga), registered(tradeDealingSaga), registered(rebalanceBatchSaga)];

export const sagas = sagaRegistry(SAGAS);
