import { mkdtemp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { natsConnectOptions } from '../../src/config/nats.js';
import { DEPLOY_NATS_CONF_PATH, deployNatsConf, natsPermissions, renderAuthorization } from '../../src/config/nats-permissions.js';
import { replySubjectAllowed } from '../../src/shards/names.js';

const BASE = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/potledger' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ ...BASE, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('NATS permissions: one source', () => {
  it('the committed deploy/nats/nats.conf is the rendered one (run `npm run nats:authorization` after changing the module)', () => {
    expect(readFileSync(new URL(`../../${DEPLOY_NATS_CONF_PATH}`, import.meta.url), 'utf8')).toBe(deployNatsConf('potledger'));
  });

  it('names no secret: passwords are environment references', () => {
    const block = renderAuthorization('potledger');
    expect(block).toContain('password: $NATS_WORKER_PASSWORD');
    expect(block).not.toMatch(/-dev\b/);
  });

  it('keeps each user to its own subjects', () => {
    const { publisher, worker, simulator } = natsPermissions('pl');
    expect(publisher.publish.allow).toContain('pl.cmd.*');
    expect(publisher.publish.allow.some((subject) => subject.startsWith('$JS.API.STREAM.CREATE'))).toBe(false);
    expect(worker.publish.deny).toContain('pl.custodian.>');
    expect(worker.publish.allow.some((subject) => subject.startsWith('pl.custodian'))).toBe(false);
    expect(simulator.publish.allow.every((subject) => !subject.startsWith('pl.cmd') && !subject.startsWith('pl.evt'))).toBe(true);
    for (const user of [publisher, worker, simulator]) expect(user.publish.deny).toContain('$JS.API.STREAM.DELETE.>');
  });
});

describe('a worker publishes outcome notices only to notice subjects', () => {
  it.each([
    ['pl.reply.0b7c', true],
    ['_INBOX.publisher.abc', true],
    ['pl.cmd.3', false],
    ['pl.evt.0', false],
    ['pl.custodian.instruction', false],
    ['other.reply.x', false],
    ['pl.reply.>', false],
    ['pl.reply.*', false],
    ['pl.reply.a b', false],
    ['pl.reply.', false],
  ])('%s → %s', (subject, allowed) => {
    expect(replySubjectAllowed({ prefix: 'pl' }, subject)).toBe(allowed);
  });
});

describe('NATS and TLS configuration', () => {
  it('wants NATS_USER and NATS_PASSWORD together, and says so', () => {
    expect(problems({ NATS_USER: 'worker' })).toEqual(['NATS_PASSWORD is not set: NATS_USER and NATS_PASSWORD go together (set both, or neither)']);
    expect(problems({ NATS_PASSWORD: 'secret' })).toEqual(['NATS_USER is not set: NATS_USER and NATS_PASSWORD go together (set both, or neither)']);
    expect(problems({ NATS_USER: 'worker', NATS_PASSWORD: 'secret' })).toEqual([]);
  });

  it('refuses a TLS file that is not there, naming the variable', () => {
    expect(problems({ NATS_TLS_CA: '/nonexistent/ca.pem' })).toEqual([
      'NATS_TLS_CA is "/nonexistent/ca.pem": expected the path of a readable PEM file; there is none (or it cannot be read)',
    ]);
    expect(problems({ DATABASE_URL: `${BASE.DATABASE_URL}?sslmode=verify-full&sslrootcert=/nonexistent/root.crt` })[0]).toMatch(/^DATABASE_URL names sslrootcert=\/nonexistent\/root.crt/);
  });

  it('wants a client certificate with its key, over TLS', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'potledger-config-'));
    const pem = join(dir, 'x.pem');
    await writeFile(pem, '-----BEGIN CERTIFICATE-----\n');
    expect(problems({ NATS_TLS_CA: pem, NATS_TLS_CERT: pem })).toEqual(['NATS_TLS_KEY is not set: NATS_TLS_CERT and NATS_TLS_KEY go together (set both, or neither)']);
    expect(problems({ NATS_TLS_CERT: pem, NATS_TLS_KEY: pem })[0]).toMatch(/^NATS_TLS_CA is not set/);
    const options = natsConnectOptions(loadConfig({ ...BASE, NATS_USER: 'worker', NATS_PASSWORD: 'p', NATS_TLS_CA: pem, NATS_TLS_CERT: pem, NATS_TLS_KEY: pem }), 'x');
    expect(options).toMatchObject({ user: 'worker', pass: 'p', inboxPrefix: '_INBOX.worker', tls: { caFile: pem, certFile: pem, keyFile: pem } });
  });

  it('changes nothing without them: no login, no TLS, the default inbox', () => {
    const options = natsConnectOptions(loadConfig(BASE), 'x');
    expect(options).toEqual({ servers: 'nats://127.0.0.1:4222', name: 'x' });
    expect(loadConfig(BASE).DATABASE_READER_ROLE).toBe('potledger_reports');
  });
});
