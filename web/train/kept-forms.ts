/**
 * The WebGPU tuner's picks kept in the browser (IndexedDB), as src/tune-cache.ts keeps them in a file under Node:
 * the Train panel on a GPU times each product once, not at every Train or Continue. A record per product, under the
 * SHA-256 of the GPU's identity (its adapter and the browser's version) and of what was timed; the newest MAX_KEPT.
 * Where the page cannot hash (crypto.subtle is for secure contexts: https or this machine) nothing is kept.
 */
import type { KeptForm, KeptForms } from '../../src/gpu-device';

const DB = 'vae-gpu-tune';
const STORE = 'forms';
/** Picks kept at most (all GPUs together), the newest. */
export const MAX_KEPT = 4096;

interface Kept extends KeptForm {
  key: string;
  at: number;
}

/** A request's result, as a promise. */
const done = <T>(request: IDBRequest<T>) => new Promise<T>((resolve, reject) => {
  request.onsuccess = () => resolve(request.result);
  request.onerror = () => reject(request.error);
});

/** The picks of the GPU called `identity`, in this origin's IndexedDB; undefined where they cannot be kept. */
export function indexedDbKeptForms(identity: string, idb: IDBFactory | undefined = globalThis.indexedDB): KeptForms | undefined {
  const subtle = globalThis.crypto?.subtle;
  if (!idb || !subtle) return undefined;
  const hash = async (key: string) => {
    const digest = new Uint8Array(await subtle.digest('SHA-256', new TextEncoder().encode(`${identity}\n${key}`)));
    return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  };
  let opened: Promise<IDBDatabase> | null = null;
  const db = () => (opened ??= new Promise<IDBDatabase>((resolve, reject) => {
    const request = idb.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'key' }).createIndex('at', 'at');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  }));
  return {
    async load(keys) {
      try {
        const hashed = await Promise.all(keys.map(hash));
        const store = (await db()).transaction(STORE, 'readonly').objectStore(STORE);
        const found = await Promise.all(hashed.map((k) => done(store.get(k) as IDBRequest<Kept | undefined>)));
        return found.map((e) => (e ? { form: e.form, us: e.us } : undefined));
      } catch {
        return keys.map(() => undefined); // (a private window's refusal, a blocked upgrade): timed again
      }
    },
    async keep(entries) {
      const hashed = await Promise.all(entries.map(([key]) => hash(key)));
      const transaction = (await db()).transaction(STORE, 'readwrite');
      const committed = new Promise<void>((resolve, reject) => {
        transaction.oncomplete = () => resolve();
        transaction.onerror = () => reject(transaction.error);
        transaction.onabort = () => reject(transaction.error);
      });
      const store = transaction.objectStore(STORE);
      const at = Date.now();
      entries.forEach(([, { form, us }], i) => store.put({ key: hashed[i], form, us, at } satisfies Kept));
      // The oldest past MAX_KEPT deleted.
      const count = await done(store.count());
      if (count > MAX_KEPT) {
        let extra = count - MAX_KEPT;
        const cursors = store.index('at').openCursor();
        await new Promise<void>((resolve, reject) => {
          cursors.onsuccess = () => {
            const cursor = cursors.result;
            if (!cursor || extra-- <= 0) return resolve();
            cursor.delete();
            cursor.continue();
          };
          cursors.onerror = () => reject(cursors.error);
        });
      }
      await committed;
    },
  };
}
