import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { auth, type ClientOptions } from 'cassandra-driver';
import type { KafkaConfig } from 'kafkajs';
import type { CassandraSecurity, KafkaSecurity } from '../config.ts';

function trustedCas(caFile: string | undefined): Pick<ConnectionOptions, 'ca'> {
  return caFile === undefined ? {} : { ca: [readFileSync(caFile, 'utf8')] };
}

/** TLS and SASL settings for every Kafka client of the process (log, consumers, admin). */
export function kafkaClientSecurity(security: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const options: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (security.tls) {
    // Certificates are always verified: against the given CAs, or the system's.
    options.ssl = { rejectUnauthorized: true, ...trustedCas(security.tlsCaFile) };
  }
  const sasl = security.sasl;
  if (sasl) {
    const { username, password } = sasl;
    options.sasl =
      sasl.mechanism === 'plain'
        ? { mechanism: 'plain', username, password }
        : sasl.mechanism === 'scram-sha-256'
          ? { mechanism: 'scram-sha-256', username, password }
          : { mechanism: 'scram-sha-512', username, password };
  }
  return options;
}

/**
 * TLS and password authentication for the Cassandra driver. `serverName` is the host the
 * certificate must name (the first contact point's host, for managed endpoints).
 */
export function cassandraClientSecurity(
  security: CassandraSecurity,
  serverName: string,
): Pick<ClientOptions, 'sslOptions' | 'authProvider'> {
  const options: Pick<ClientOptions, 'sslOptions' | 'authProvider'> = {};
  if (security.tls) {
    options.sslOptions = {
      rejectUnauthorized: true,
      servername: serverName,
      host: serverName,
      ...trustedCas(security.tlsCaFile),
    };
  }
  if (security.credentials) {
    options.authProvider = new auth.PlainTextAuthProvider(
      security.credentials.username,
      security.credentials.password,
    );
  }
  return options;
}
