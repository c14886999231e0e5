import { createApiKey, listApiKeys, revokeApiKey, ROLES, type Role } from '../../api/keys.js';
import { loadConfig } from '../../config/config.js';
import { migrate } from '../../journal/migrate.js';
import { parseCommandLine } from '../args.js';
import { withDatabase } from '../database.js';
import { usageError } from '../errors.js';
import { formatTable, printJson, printLines, printNotice } from '../output.js';
import type { CliCommand } from './command.js';

const CREATE_USAGE = `api-key create --role ${ROLES.join('|')} [--member M] [--label L] [--json]`;
const LIST_USAGE = 'api-key list [--json]';
const REVOKE_USAGE = 'api-key revoke <keyId> [--json]';

/**
 * The API's keys. The first key has to come from somewhere other than the API, so these commands
 * apply the migrations first: they work on a database the service has not started on yet.
 */
export const apiKeyCommand: CliCommand = {
  usage: [
    { line: CREATE_USAGE, gloss: 'a new key, printed once and stored only as a hash' },
    { line: LIST_USAGE, gloss: 'every key: id, role, member, label, created, revoked' },
    { line: REVOKE_USAGE, gloss: 'revoke a key; exit 1 when no such active key exists' },
  ],
  async run(args) {
    const [action, ...rest] = args;
    switch (action) {
      case 'create':
        return create(rest);
      case 'list':
        return list(rest);
      case 'revoke':
        return revoke(rest);
      default:
        throw usageError(`api-key takes create, list or revoke${action === undefined ? '' : `, not "${action}"`}`);
    }
  },
};

async function create(args: readonly string[]): Promise<number> {
  const { values } = parseCommandLine(CREATE_USAGE, args, {
    role: { type: 'string' },
    member: { type: 'string' },
    label: { type: 'string' },
    json: { type: 'boolean' },
  });
  const role = values.role;
  if (!isRole(role)) {
    throw usageError(`--role is one of ${ROLES.join(', ')}${role === undefined ? '' : `, not "${role}"`}`, CREATE_USAGE);
  }
  if ((role === 'member') !== (values.member !== undefined)) {
    throw usageError('a member key names its member (--member M), and only a member key does', CREATE_USAGE);
  }
  const request = {
    role,
    ...(values.member === undefined ? {} : { memberId: values.member }),
    ...(values.label === undefined ? {} : { label: values.label }),
  };
  const created = await withDatabase(loadConfig(), async (pool) => {
    await migrate(pool);
    return createApiKey(pool, request);
  });
  if (values.json === true) printJson(created);
  else {
    const member = created.memberId === undefined ? '' : `, member ${created.memberId}`;
    printLines([`key id: ${created.keyId}, role ${created.role}${member}`, `key: ${created.key}`]);
    printNotice('the key is shown only this once: only its hash is stored, so keep it now');
  }
  return 0;
}

async function list(args: readonly string[]): Promise<number> {
  const { values } = parseCommandLine(LIST_USAGE, args, { json: { type: 'boolean' } });
  const keys = await withDatabase(loadConfig(), async (pool) => {
    await migrate(pool);
    return listApiKeys(pool);
  });
  if (values.json === true) printJson(keys);
  else if (keys.length === 0) printLines(['no API keys yet: potledger api-key create makes one']);
  else {
    printLines(
      formatTable(
        [{ title: 'key id' }, { title: 'role' }, { title: 'member' }, { title: 'label' }, { title: 'created' }, { title: 'revoked' }],
        keys.map((key) => [key.keyId, key.role, key.memberId ?? '-', key.label === '' ? '-' : key.label, key.createdAt, key.revokedAt ?? '-']),
      ),
    );
  }
  return 0;
}

async function revoke(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(REVOKE_USAGE, args, { json: { type: 'boolean' } }, 1);
  const [keyId = ''] = positionals;
  const revoked = await withDatabase(loadConfig(), async (pool) => {
    await migrate(pool);
    return revokeApiKey(pool, keyId);
  });
  if (!revoked) {
    printNotice(`potledger: no active API key "${keyId}" (unknown, or revoked already)`);
    return 1;
  }
  if (values.json === true) printJson({ keyId, revoked: true });
  else printLines([`revoked ${keyId}: it no longer authenticates`]);
  return 0;
}

function isRole(value: string | undefined): value is Role {
  return (ROLES as readonly (string | undefined)[]).includes(value);
}
