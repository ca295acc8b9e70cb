import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../shared/config.ts';
import { cassandraClientSecurity, kafkaClientSecurity } from '../shared/platform/security.ts';
import { tempDir } from './support/services.ts';

describe('TLS and credentials for managed Kafka and Cassandra', () => {
  it('uses plaintext without credentials unless configured', () => {
    const config = loadConfig({});
    assert.deepEqual(kafkaClientSecurity(config.kafkaSecurity), {});
    assert.deepEqual(cassandraClientSecurity(config.cassandraSecurity, 'localhost'), {});
  });

  it('gives every Kafka client verified TLS and SASL/SCRAM', () => {
    const config = loadConfig({
      KAFKA_TLS: 'true',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'atlas',
      KAFKA_SASL_PASSWORD: 's3cret',
    });
    assert.deepEqual(kafkaClientSecurity(config.kafkaSecurity), {
      ssl: { rejectUnauthorized: true },
      sasl: { mechanism: 'scram-sha-512', username: 'atlas', password: 's3cret' },
    });
  });

  it('trusts the CA bundle given as a file, which implies TLS', async () => {
    const dir = await tempDir();
    try {
      const caFile = join(dir, 'ca.pem');
      await writeFile(caFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
      const config = loadConfig({ KAFKA_TLS_CA_FILE: caFile, CASSANDRA_TLS_CA_FILE: caFile });
      const kafka = kafkaClientSecurity(config.kafkaSecurity);
      assert.deepEqual(kafka.ssl, {
        rejectUnauthorized: true,
        ca: ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'],
      });
      const cassandra = cassandraClientSecurity(config.cassandraSecurity, 'db.example.com');
      assert.equal(cassandra.sslOptions?.servername, 'db.example.com');
      assert.equal(cassandra.sslOptions?.rejectUnauthorized, true);
      assert.equal((cassandra.sslOptions?.ca as string[] | undefined)?.length, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('authenticates to Cassandra with the configured user and password', async () => {
    const config = loadConfig({
      CASSANDRA_TLS: '1',
      CASSANDRA_USERNAME: 'atlas',
      CASSANDRA_PASSWORD: 'pa55',
    });
    const { authProvider, sslOptions } = cassandraClientSecurity(
      config.cassandraSecurity,
      'cassandra.eu-west-1.amazonaws.com',
    );
    assert.equal(sslOptions?.servername, 'cassandra.eu-west-1.amazonaws.com');
    assert.ok(authProvider, 'an auth provider is set');
    // What the driver sends when the server asks for PasswordAuthenticator credentials.
    const authenticator = authProvider.newAuthenticator(
      '127.0.0.1:9042',
      'org.apache.cassandra.auth.PasswordAuthenticator',
    );
    const response = await new Promise<Buffer>((resolve, reject) =>
      authenticator.initialResponse((error: Error | null, token: Buffer) =>
        error ? reject(error) : resolve(token),
      ),
    );
    assert.equal(response.toString('utf8'), '\0atlas\0pa55');
  });

  it('refuses half-given credentials at start-up', () => {
    for (const env of [
      { KAFKA_SASL_MECHANISM: 'plain' },
      { KAFKA_SASL_USERNAME: 'atlas', KAFKA_SASL_PASSWORD: 'x' },
      { CASSANDRA_USERNAME: 'atlas' },
      { CASSANDRA_PASSWORD: 'x' },
    ]) {
      assert.throws(() => loadConfig(env), /go together/, JSON.stringify(env));
    }
    assert.throws(() => loadConfig({ KAFKA_SASL_MECHANISM: 'gssapi' }), /KAFKA_SASL_MECHANISM/);
    assert.throws(() => loadConfig({ CASSANDRA_TLS: 'yes' }), /CASSANDRA_TLS/);
  });
});
