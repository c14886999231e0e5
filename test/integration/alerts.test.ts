import type { Subscription } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertConsumer, alertSubject } from '../../src/alerts/consumer.js';
import type { AlertRules } from '../../src/alerts/rules.js';
import { bearer, json, startApiStack, type ApiStack } from '../support/api.js';
import { assets } from '../support/dealing.js';
import { waitFor } from '../support/wait.js';

/**
 * The alert consumer through the running system: deposits committed by a shard worker become events,
 * the consumer raises threshold and spike alerts, stores them, publishes them on NATS, and a restart
 * adds nothing twice; operators list and acknowledge them through the API.
 */
const rules: AlertRules = {
  thresholdsMinor: new Map([['GBP', 1_000_000n]]),
  // Windows of a second, two of history, so that a spike fits in a test: above 2× the average, at least 6.
  spike: { windowMs: 1000, historyWindows: 2, factor: 2, minimumCount: 6 },
  funds: new Set(['FUND-A', 'FUND-B', 'FUND-C']),
};

let stack: ApiStack;
let consumer: AlertConsumer;
let seen = 0;
const published: Record<string, unknown>[] = [];
let subscription: Subscription;

function startConsumer(): AlertConsumer {
  return new AlertConsumer({ pool: stack.db.service, nc: stack.nats.nc, prefix: stack.nats.prefix, assets, rules, log: pino({ level: 'warn' }), onEvent: () => (seen += 1) });
}

/** Deposits through the API (`?wait=true`) and returns the committed movement's id. */
async function deposit(potId: string, amount: string, key: string): Promise<string> {
  const response = await stack.app.inject({
    method: 'POST',
    url: '/commands/cash.deposit?wait=true',
    headers: { ...bearer(stack.keys.service), 'idempotency-key': key },
    payload: { memberId: `M-${potId}`, potId, payload: { amount, currency: 'GBP' } },
  });
  expect(response.statusCode, response.body).toBe(200);
  return (json(response).outcome as { movement: { movementId: string } }).movement.movementId;
}

beforeAll(async () => {
  stack = await startApiStack('alerts');
  subscription = stack.nats.nc.subscribe(`${stack.nats.prefix}.alert.*`, { callback: (_error, message) => {
      published.push(message.json());
    } });
  for (const pot of ['P-1', 'P-2']) {
    const opened = await stack.app.inject({
      method: 'POST',
      url: '/commands/pot.open?wait=true',
      headers: { ...bearer(stack.keys.service), 'idempotency-key': `open-${pot}` },
      payload: { memberId: `M-${pot}`, potId: pot, payload: {} },
    });
    expect(opened.statusCode, opened.body).toBe(200);
  }
  consumer = startConsumer();
  await consumer.start();
});
afterAll(async () => {
  subscription?.unsubscribe();
  await consumer?.stop();
  await stack?.stop();
});

const stored = async () => (await stack.db.owner.query<{ alert_id: string }>('SELECT alert_id FROM alerts ORDER BY seq')).rows.map((row) => row.alert_id);

describe('the alert consumer', () => {
  it('raises a threshold alert for 10,000.01 and none for 10,000.00, stored and published once', async () => {
    await deposit('P-1', '10000.00', 'd-at');
    const over = await deposit('P-1', '10000.01', 'd-over');
    await waitFor('the threshold alert', async () => (await stored()).length === 1);
    expect(await stored()).toEqual([`threshold:${over}:GBP`]);
    await waitFor('the alert on NATS', () => published.length === 1);
    expect(published[0]).toMatchObject({ kind: 'threshold', asset: 'GBP', amount: '10000.01', threshold: '10000.00', potId: 'P-1' });
    expect(alertSubject(stack.nats.prefix, 'threshold')).toBe(`${stack.nats.prefix}.alert.threshold`);
  });

  it('raises a spike when a pot moves far above its recent rate, after a full history', async () => {
    // Three seconds of one deposit a second, then a burst of 20: however a window boundary splits it, one side spikes.
    for (let second = 0; second < 3; second += 1) {
      await deposit('P-2', '1.00', `steady-${second}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const burst = Array.from({ length: 20 }, (_, i) => deposit('P-2', '1.00', `burst-${i}`));
    await Promise.all(burst);
    await waitFor('the spike alert', async () => (await stored()).some((id) => id.startsWith('spike:pot:P-2:')), { describe: async () => JSON.stringify(await stored()) });
    expect((await stored()).filter((id) => id.startsWith('spike:')).length).toBeGreaterThanOrEqual(1);
  });

  it('adds nothing twice after a restart, and reads on from where it was', async () => {
    const before = await stored();
    const events = (await stack.db.owner.query<{ n: bigint }>('SELECT count(*) AS n FROM command_outcomes')).rows[0]?.n;
    await consumer.stop();
    seen = 0;
    consumer = startConsumer();
    await consumer.start();
    // It replays the events it saw (from two histories before its checkpoint), finds the same alerts, stores none.
    await waitFor('the replay', () => seen > 0);
    expect(events).toBeGreaterThan(0n);
    // A sentinel: a deposit after the restart, whose event follows every replayed one in the stream. The
    // consumer reads the stream in order, so once the sentinel's alert is stored the replay is over, and
    // the sentinel's alert must be the only one added.
    const sentinel = await deposit('P-1', '20000.00', 'd-after-restart');
    const sentinelAlert = `threshold:${sentinel}:GBP`;
    await waitFor('the alert of the deposit after the restart', async () => (await stored()).includes(sentinelAlert), { describe: async () => JSON.stringify(await stored()) });
    expect(await stored()).toEqual([...before, sentinelAlert]);
    expect(consumer.published).toBe(1);
  });

  it('lists open alerts for operators, acknowledges one once, and refuses other roles', async () => {
    const list = await stack.app.inject({ method: 'GET', url: '/alerts', headers: bearer(stack.keys.operator) });
    expect(list.statusCode).toBe(200);
    const alerts = json(list).alerts as { alertId: string; kind: string; seq: number }[];
    expect(alerts.map((a) => a.alertId)).toEqual(await stored());
    const first = alerts[0]?.alertId ?? '';
    const ack = await stack.app.inject({
      method: 'POST',
      url: `/alerts/${encodeURIComponent(first)}/acknowledgement`,
      headers: bearer(stack.keys.operator),
      payload: { note: 'checked with the member' },
    });
    expect(ack.statusCode, ack.body).toBe(200);
    expect(json(ack)).toMatchObject({ alertId: first, acknowledgedBy: stack.keys.operator.keyId, note: 'checked with the member' });
    const again = await stack.app.inject({ method: 'POST', url: `/alerts/${encodeURIComponent(first)}/acknowledgement`, headers: bearer(stack.keys.operator), payload: {} });
    expect(again.statusCode).toBe(409);
    expect(json(again)).toMatchObject({ code: 'API_ERR_ALERT_ACKNOWLEDGED' });
    const open = await stack.app.inject({ method: 'GET', url: '/alerts', headers: bearer(stack.keys.operator) });
    expect((json(open).alerts as unknown[]).length).toBe(alerts.length - 1);
    const everything = await stack.app.inject({ method: 'GET', url: '/alerts?all=true&limit=1', headers: bearer(stack.keys.operator) });
    expect(json(everything)).toMatchObject({ alerts: [{ alertId: first }], next: alerts[0]?.seq });
    expect((await stack.app.inject({ method: 'GET', url: '/alerts/threshold:nope', headers: bearer(stack.keys.operator) })).statusCode).toBe(404);
    expect((await stack.app.inject({ method: 'GET', url: '/alerts', headers: bearer(stack.keys.service) })).statusCode).toBe(403);
    // The record of what was detected cannot be changed, even by the service's own role.
    await expect(stack.db.service.query("UPDATE alerts SET amount_minor = 1 WHERE alert_id = $1", [first])).rejects.toThrow(/acknowledged already|only its acknowledgement/);
  });
});

