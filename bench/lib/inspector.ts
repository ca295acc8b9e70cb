import WebSocket from 'ws';

/**
 * Full garbage collections in Node server processes, asked for over the V8 inspector, so the
 * harness can read their memory with no collectable garbage in it. Without this, the resident
 * set of a Node process swings by tens of MiB with the garbage collector's timing, far more
 * than what a few thousand idle connections hold.
 */

/** The node flag that opens the inspector on `port`, loopback only. */
export function inspectFlag(port: number): string {
  return `--inspect=127.0.0.1:${port}`;
}

/** Collects garbage in the process whose inspector listens on `port`; resolves when done. */
export async function collectGarbage(port: number, timeoutMs = 30_000): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/json/list`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  const targets = (await response.json()) as Array<{ webSocketDebuggerUrl?: string }>;
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) {
    throw new Error(`no inspector target on port ${port}`);
  }
  const socket = new WebSocket(url, { perMessageDeflate: false });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('inspector timed out')), timeoutMs);
      socket.once('error', reject);
      socket.once('open', () =>
        socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })),
      );
      socket.on('message', (data: Buffer) => {
        const reply = JSON.parse(data.toString()) as { id?: number; error?: { message: string } };
        if (reply.id !== 1) {
          return;
        }
        clearTimeout(timer);
        if (reply.error) {
          reject(new Error(reply.error.message));
        } else {
          resolve();
        }
      });
    });
  } finally {
    socket.close();
  }
}
