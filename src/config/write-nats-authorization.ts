import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { runCli } from '../cli/run-cli.js';
import { DEPLOY_NATS_CONF_PATH, deployNatsConf, renderAuthorization } from './nats-permissions.js';

/**
 * `npm run nats:authorization`: rewrites deploy/nats/nats.conf (docker compose).
 * `tsx src/config/write-nats-authorization.ts local <prefix>`: prints the block scripts/services.sh
 * appends to the project-local nats.conf: the three users, and an unrestricted development user that
 * clients without credentials become (tests with prefixes of their own, the demo).
 */
await runCli(async () => {
  const [target = 'deploy', prefix = 'potledger'] = process.argv.slice(2);
  if (target === 'deploy') {
    await writeFile(fileURLToPath(new URL(`../../${DEPLOY_NATS_CONF_PATH}`, import.meta.url)), deployNatsConf());
    return 0;
  }
  if (target === 'local') {
    process.stdout.write(renderAuthorization(prefix, { anonymousDevelopmentUser: { user: 'development', passwordVariable: 'NATS_DEVELOPMENT_PASSWORD' } }));
    return 0;
  }
  process.stderr.write('usage: write-nats-authorization.ts deploy | local <prefix>\n');
  return 2;
});
