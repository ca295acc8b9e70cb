import { Redis } from 'ioredis';

/**
 * Remembers the namespaces a test file used and deletes their keys at the end. Keys are
 * removed by each namespace's own prefix only, never by a broader pattern, so concurrent
 * test runs on the same Redis are left alone.
 */
export function namespaceJanitor(url: string) {
  const namespaces = new Set<string>();
  return {
    track(namespace: string): string {
      namespaces.add(namespace);
      return namespace;
    },
    async sweep(): Promise<number> {
      const client = new Redis(url);
      let deleted = 0;
      try {
        for (const namespace of namespaces) {
          let cursor = '0';
          do {
            const [next, keys] = await client.scan(
              cursor,
              'MATCH',
              `atlas:${namespace}:*`,
              'COUNT',
              500,
            );
            cursor = next;
            if (keys.length > 0) {
              deleted += await client.del(...keys);
            }
          } while (cursor !== '0');
        }
      } finally {
        client.disconnect();
      }
      namespaces.clear();
      return deleted;
    },
  };
}
