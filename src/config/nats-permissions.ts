import { custodianNames } from '../custodian/names.js';
import { names as namesFor } from '../shards/names.js';

/**
 * Who may say what on NATS: the one source of the subject permissions of the ledger's three NATS
 * users, derived from the prefix like every other name (src/shards/names.ts). Pure: it renders the
 * nats-server `authorization` block that scripts/services.sh writes into the project-local nats.conf
 * and that deploy/nats/nats.conf (docker compose) holds (a test checks the two cannot drift).
 *
 *   publisher  internal services and SDK users (the rebalancer CLI, say): publish commands, ask for an
 *              outcome, receive outcome notices and replies. It neither provisions nor consumes
 *              streams: stream provisioning belongs to the worker (LedgerPublisher.connect with
 *              `provisionStreams: false` only checks that the command stream exists).
 *   worker     the service process (src/main.ts): shard workers, the API (which publishes commands),
 *              the payments desk and the alert consumer. Provisions and consumes the command and event
 *              streams, holds the lease and worker KV buckets, answers outcome look-ups, publishes
 *              events, alerts and outcome notices. Never the custodian's subjects.
 *   simulator  the custodian simulator: its own stream and durable consumer, publishes reports only.
 *
 * Each user gets an inbox of its own (`_INBOX.<user>.>`, set by natsConnectOptions), so no user can
 * subscribe to the replies meant for another (JetStream delivers pulled messages to an inbox).
 * Outcome notices go to `<prefix>.reply.>`; a worker publishes one only to a subject there or under
 * `_INBOX.` (replySubjectAllowed in src/shards/names.ts), whatever a command's Potledger-Reply says.
 */
export const NATS_USERS = ['publisher', 'worker', 'simulator'] as const;
export type NatsUser = (typeof NATS_USERS)[number];

export interface SubjectRules {
  readonly allow: readonly string[];
  /** Denied even where an allow pattern matches: what this user must never do, kept if `allow` widens. */
  readonly deny: readonly string[];
}

export interface NatsPermissions {
  readonly publish: SubjectRules;
  readonly subscribe: SubjectRules;
}

/** The inbox prefix of a user's connection: `_INBOX.<user>` (replies and pulled messages arrive under it). */
export function inboxPrefix(user: string): string {
  return `_INBOX.${user}`;
}

/** The environment variable nats-server reads a user's password from in the rendered block. */
export function passwordVariable(user: NatsUser): string {
  return `NATS_${user.toUpperCase()}_PASSWORD`;
}

/** Development defaults of the passwords (local setup, docker compose): never use them elsewhere. */
export const DEVELOPMENT_PASSWORDS: Readonly<Record<NatsUser, string>> = {
  publisher: 'potledger-publisher-dev',
  worker: 'potledger-worker-dev',
  simulator: 'potledger-simulator-dev',
};

const api = (...tokens: string[]): string => `$JS.API.${tokens.join('.')}`;

/** What a stream's provisioner asks of the JetStream API: look, create, bring up to date (never delete or purge). */
function provisionStream(stream: string): string[] {
  return ['INFO', 'CREATE', 'UPDATE'].map((verb) => api('STREAM', verb, stream));
}

/** Creating, reading, deleting, listing and pulling from any consumer of a stream (durable or ordered). */
function consumeStream(stream: string): string[] {
  return [
    api('CONSUMER', 'CREATE', stream),
    api('CONSUMER', 'CREATE', stream, '>'),
    api('CONSUMER', 'DURABLE', 'CREATE', stream, '*'),
    api('CONSUMER', 'INFO', stream, '*'),
    api('CONSUMER', 'DELETE', stream, '*'),
    api('CONSUMER', 'LIST', stream),
    api('CONSUMER', 'NAMES', stream),
    api('CONSUMER', 'MSG', 'NEXT', stream, '*'),
  ];
}

/** A KV bucket's stream, its keys (put, update, delete), direct gets and the watchers behind `keys()`. */
function keyValueBucket(bucket: string): string[] {
  const stream = `KV_${bucket}`;
  return [
    `$KV.${bucket}.>`,
    ...provisionStream(stream),
    api('STREAM', 'MSG', 'GET', stream),
    api('DIRECT', 'GET', stream),
    api('DIRECT', 'GET', stream, '>'),
    ...consumeStream(stream),
  ];
}

/** What nobody but an operator (with a user of their own) may do: delete or purge a stream, or a message in it. */
const DESTRUCTIVE = [api('STREAM', 'DELETE', '>'), api('STREAM', 'PURGE', '>'), api('STREAM', 'MSG', 'DELETE', '>')];

export function natsPermissions(prefix: string): Readonly<Record<NatsUser, NatsPermissions>> {
  const ledger = namesFor(prefix);
  const custodian = custodianNames(prefix);
  const commands = `${prefix}.cmd.*`;
  const events = `${prefix}.evt.*`;
  const notices = `${prefix}.reply.>`;
  const custodianSubjects = `${prefix}.custodian.>`;
  return {
    publisher: {
      publish: {
        allow: [commands, ledger.outcomeLookupSubject, api('INFO'), api('STREAM', 'INFO', ledger.commandStream)],
        deny: [`${prefix}.evt.>`, custodianSubjects, '$KV.>', api('CONSUMER', '>'), ...DESTRUCTIVE],
      },
      subscribe: {
        allow: [`${inboxPrefix('publisher')}.>`, notices],
        deny: [`${prefix}.cmd.>`, `${prefix}.evt.>`, custodianSubjects, '$KV.>'],
      },
    },
    worker: {
      publish: {
        allow: [
          commands,
          events,
          `${prefix}.alert.*`,
          notices,
          // Answers to outcome look-ups, and notices to publishers that use a plain inbox.
          '_INBOX.>',
          `$JS.ACK.${ledger.commandStream}.>`,
          api('INFO'),
          ...provisionStream(ledger.commandStream),
          ...provisionStream(ledger.eventStream),
          api('STREAM', 'MSG', 'GET', ledger.commandStream),
          ...consumeStream(ledger.commandStream),
          ...consumeStream(ledger.eventStream),
          ...keyValueBucket(ledger.leaseBucket),
          ...keyValueBucket(ledger.workerBucket),
        ],
        deny: [custodianSubjects, ...DESTRUCTIVE],
      },
      subscribe: {
        allow: [`${inboxPrefix('worker')}.>`, ledger.outcomeLookupSubject, notices],
        deny: [`${prefix}.cmd.>`, custodianSubjects],
      },
    },
    simulator: {
      publish: {
        allow: [
          custodian.reportSubject,
          `$JS.ACK.${custodian.stream}.${custodian.custodianConsumer}.>`,
          api('INFO'),
          ...provisionStream(custodian.stream),
          api('CONSUMER', 'CREATE', custodian.stream, custodian.custodianConsumer),
          api('CONSUMER', 'CREATE', custodian.stream, custodian.custodianConsumer, '>'),
          api('CONSUMER', 'DURABLE', 'CREATE', custodian.stream, custodian.custodianConsumer),
          api('CONSUMER', 'INFO', custodian.stream, custodian.custodianConsumer),
          api('CONSUMER', 'MSG', 'NEXT', custodian.stream, custodian.custodianConsumer),
        ],
        deny: [`${prefix}.cmd.>`, `${prefix}.evt.>`, custodian.instructionSubject, '$KV.>', ...DESTRUCTIVE],
      },
      subscribe: {
        allow: [`${inboxPrefix('simulator')}.>`],
        deny: [`${prefix}.cmd.>`, `${prefix}.evt.>`, '$KV.>'],
      },
    },
  };
}

export interface AuthorizationOptions {
  /**
   * A user with no restrictions that unauthenticated clients become (`no_auth_user`): the local
   * development server only, so tests (each with a prefix of its own) and the demo (Trust, custodian
   * and desk on one connection) keep working while the service logs in as `worker`. Never in a deployment.
   */
  readonly anonymousDevelopmentUser?: { readonly user: string; readonly passwordVariable: string };
}

const quote = (subject: string): string => JSON.stringify(subject);
const list = (subjects: readonly string[], indent: string): string =>
  subjects.length === 0 ? '[]' : `[\n${subjects.map((subject) => `${indent}  ${quote(subject)}`).join('\n')}\n${indent}]`;

function renderRules(name: string, rules: SubjectRules, indent: string): string {
  return [`${indent}${name}: {`, `${indent}  allow: ${list(rules.allow, `${indent}  `)}`, `${indent}  deny: ${list(rules.deny, `${indent}  `)}`, `${indent}}`].join('\n');
}

/**
 * The nats-server `authorization { users = [...] }` block for `prefix`. Passwords are `$NATS_<USER>_PASSWORD`
 * references: nats-server reads them from its environment, so the file holds no secret.
 */
export function renderAuthorization(prefix: string, options: AuthorizationOptions = {}): string {
  const permissions = natsPermissions(prefix);
  const users = NATS_USERS.map((user) =>
    [
      '    {',
      `      user: ${quote(user)}`,
      `      password: $${passwordVariable(user)}`,
      '      permissions: {',
      renderRules('publish', permissions[user].publish, '        '),
      renderRules('subscribe', permissions[user].subscribe, '        '),
      '      }',
      '    }',
    ].join('\n'),
  );
  const anonymous = options.anonymousDevelopmentUser;
  if (anonymous !== undefined) users.push(`    { user: ${quote(anonymous.user)}, password: $${anonymous.passwordVariable} }`);
  return [
    `# NATS users of the ledger with prefix "${prefix}": rendered by src/config/nats-permissions.ts`,
    '# (npm run nats:authorization); edit that module, not this block.',
    ...(anonymous === undefined ? [] : [`no_auth_user: ${quote(anonymous.user)}`]),
    'authorization {',
    '  users = [',
    users.join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}

/** Where docker compose mounts the nats-server configuration from. */
export const DEPLOY_NATS_CONF_PATH = 'deploy/nats/nats.conf';

/** The whole of deploy/nats/nats.conf: the server's settings and the users of the ledger `potledger`. */
export function deployNatsConf(prefix = 'potledger'): string {
  return [
    '# nats-server configuration for docker-compose.yml (mounted read-only at /etc/nats/nats.conf).',
    '# Written by `npm run nats:authorization`: edit src/config/nats-permissions.ts, not this file.',
    '# The passwords come from the environment (docker-compose.yml passes NATS_*_PASSWORD, development',
    '# defaults unless you set them).',
    'listen: 0.0.0.0:4222',
    'http: 0.0.0.0:8222',
    'max_payload: 1MB',
    'jetstream {',
    '  store_dir: /data',
    '}',
    renderAuthorization(prefix),
  ].join('\n');
}
