import WebSocket from 'ws';

/**
 * Full garbage collections in Node server processes, asked for over the V8 inspector, so the
 * harness can read their memory with no collectable garbage in it, and their live heap. Without this, the resident
 * set of a Node process swings by tens of MiB with the garbage collector's timing, far more
 * than what a few thousand idle connections hold.
 */

/** The node flag that opens the inspector on `port`, loopback only. */
export function inspectFlag(port: number): string {
  return `--inspect=127.0.0.1:${port}`;
}

/**
 * Collects garbage in the process whose inspector listens on `port`, then answers its live
 * memory: the V8 heap in use plus memory held outside it (Buffers), in bytes.
 */
export async function collectGarbage(port: number, timeoutMs = 30_000): Promise<number> {
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
      socket.once('error', reject);
      socket.once('open', () => resolve());
    });
    await call(socket, 1, 'HeapProfiler.collectGarbage', {}, timeoutMs);
    const result = (await call(
      socket,
      2,
      'Runtime.evaluate',
      { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true },
      timeoutMs,
    )) as { result?: { value?: string } };
    const usage = JSON.parse(result.result?.value ?? '{}') as {
      heapUsed?: number;
      external?: number;
    };
    return (usage.heapUsed ?? 0) + (usage.external ?? 0);
  } finally {
    socket.close();
  }
}

/** One inspector protocol call and its result. */
function call(
  socket: WebSocket,
  id: number,
  method: string,
  params: object,
  timeoutMs: number,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`inspector ${method} timed out`)), timeoutMs);
    const onMessage = (data: Buffer) => {
      const reply = JSON.parse(data.toString()) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
      };
      if (reply.id !== id) {
        return;
      }
      clearTimeout(timer);
      socket.off('message', onMessage);
      if (reply.error) {
        reject(new Error(reply.error.message));
      } else {
        resolve(reply.result);
      }
    };
    socket.on('message', onMessage);
    socket.send(JSON.stringify({ id, method, params }));
  });
}

/**
 * Live memory of a Go process from the text of its heap profile (`debug=1`): the heap in use
 * plus goroutine stacks, in bytes, as runtime.MemStats reports them.
 */
export function goLiveBytes(profileText: string): number {
  const heap = /^# HeapAlloc = (\d+)$/m.exec(profileText);
  const stack = /^# Stack = (\d+) \/ \d+$/m.exec(profileText);
  if (!heap?.[1] || !stack?.[1]) {
    throw new TypeError('no runtime.MemStats in the heap profile');
  }
  return Number(heap[1]) + Number(stack[1]);
}
