/**
 * Bounded asynchronous building blocks of the loader: an order-preserving concurrent map and a
 * prefetching queue. Both pull from their input only when they have room (backpressure), so
 * memory stays bounded whatever the speed of producer and consumer.
 */

/**
 * Applies `fn` to up to `limit` items at a time and yields results in input order.
 * At most `limit` items are in flight or finished-but-not-yet-yielded.
 */
export async function* orderedMap<T, R>(input: AsyncIterable<T>, fn: (item: T) => Promise<R>, limit: number): AsyncGenerator<R> {
  const it = input[Symbol.asyncIterator]();
  const pending: Promise<R>[] = [];
  let done = false;
  try {
    for (;;) {
      while (!done && pending.length < limit) {
        const next = await it.next();
        if (next.done) {
          done = true;
          break;
        }
        const p = fn(next.value);
        p.catch(() => undefined); // observed when its turn comes; avoid unhandled-rejection noise meanwhile
        pending.push(p);
      }
      const head = pending.shift();
      if (!head) return;
      yield await head;
    }
  } finally {
    if (!done) await it.return?.();
  }
}

/**
 * Runs `source` ahead of the consumer in the background, keeping at most `capacity` items
 * ready. Errors reach the consumer after the items produced before them.
 */
export async function* prefetch<T>(source: AsyncIterable<T>, capacity: number): AsyncGenerator<T> {
  if (capacity <= 0) {
    yield* source;
    return;
  }
  const it = source[Symbol.asyncIterator]();
  const queue: T[] = [];
  let finished = false;
  let failure: { error: unknown } | undefined;
  let stopped = false;
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  const signalConsumer = (): void => {
    wakeConsumer?.();
    wakeConsumer = undefined;
  };
  const signalProducer = (): void => {
    wakeProducer?.();
    wakeProducer = undefined;
  };

  const pump = (async (): Promise<void> => {
    try {
      while (!stopped) {
        if (queue.length >= capacity) {
          await new Promise<void>((r) => (wakeProducer = r));
          continue;
        }
        const next = await it.next();
        if (next.done) break;
        queue.push(next.value);
        signalConsumer();
      }
    } catch (e) {
      failure = { error: e };
    } finally {
      finished = true;
      signalConsumer();
    }
  })();

  try {
    for (;;) {
      if (queue.length > 0) {
        const value = queue.shift() as T;
        signalProducer();
        yield value;
        continue;
      }
      if (failure) throw failure.error;
      if (finished) return;
      await new Promise<void>((r) => (wakeConsumer = r));
    }
  } finally {
    stopped = true;
    signalProducer();
    await pump;
    // closes upstream stages (worker pools, files) when the consumer stops early
    await it.return?.()?.catch?.(() => undefined);
  }
}
