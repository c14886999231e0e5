import type { ConnectionOptions } from '@nats-io/transport-node';
import type { Config } from './config.js';
import { inboxPrefix } from './nats-permissions.js';

/**
 * How every process connects to NATS from its configuration (the service, the CLI, the demo): the
 * URL, the login and its inbox prefix (`_INBOX.<user>`, the only inbox its permissions let it read)
 * when NATS_USER is set, and TLS verifying the server against NATS_TLS_CA (with a client certificate
 * when NATS_TLS_CERT/NATS_TLS_KEY are set). Without them: no login, no TLS (a `tls://` URL still asks
 * for TLS, verified against the system's CAs).
 */
export function natsConnectOptions(
  config: Pick<Config, 'NATS_URL' | 'NATS_USER' | 'NATS_PASSWORD' | 'NATS_TLS_CA' | 'NATS_TLS_CERT' | 'NATS_TLS_KEY'>,
  name: string,
): ConnectionOptions {
  const login = config.NATS_USER === undefined ? {} : { user: config.NATS_USER, pass: config.NATS_PASSWORD ?? '', inboxPrefix: inboxPrefix(config.NATS_USER) };
  const tls =
    config.NATS_TLS_CA === undefined
      ? {}
      : {
          tls: {
            caFile: config.NATS_TLS_CA,
            ...(config.NATS_TLS_CERT === undefined ? {} : { certFile: config.NATS_TLS_CERT }),
            ...(config.NATS_TLS_KEY === undefined ? {} : { keyFile: config.NATS_TLS_KEY }),
          },
        };
  return { servers: config.NATS_URL, name, ...login, ...tls };
}
