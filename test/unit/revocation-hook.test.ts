import { describe, expect, it } from 'vitest';
import { isRevocationSink } from '../../src/http/authorizer.js';
import { openAccess } from '../../src/http/authorizer.js';
import { controlEvent } from '../../src/hub/control.js';
import { attachRevocationHook } from '../../src/server/revocation.js';
import { MemoryStore } from '../../src/store/memory.js';

function recordingAuthorizer() {
  const revoked: Array<[string, number]> = [];
  return {
    ...openAccess,
    revoked,
    revokeSubject: (subject: string, at: number) => revoked.push([subject, at]),
  };
}

describe('revocation hook', () => {
  it('finds the ability by shape: any authorizer with revokeSubject, none without', () => {
    expect(isRevocationSink(recordingAuthorizer())).toBe(true);
    expect(isRevocationSink(openAccess)).toBe(false);
    expect(isRevocationSink(undefined)).toBe(false);
  });

  it('learns retained cut-offs before listening, then hears live ones; ordinary events are ignored', async () => {
    const store = new MemoryStore();
    const before = await store.append(controlEvent({ action: 'disconnect', subject: 'alice' }));
    await store.append({ topics: ['/orders'], data: '{"action":"disconnect","subject":"eve"}' });
    const authorizer = recordingAuthorizer();
    const hook = attachRevocationHook(store, authorizer, (error) => {
      throw error;
    });
    await hook.learned;
    expect(authorizer.revoked).toEqual([['alice', before.time]]);
    const live = await store.append(controlEvent({ action: 'disconnect', subject: 'bob' }));
    expect(authorizer.revoked).toEqual([
      ['alice', before.time],
      ['bob', live.time],
    ]);
    hook.detach();
    await store.append(controlEvent({ action: 'disconnect', subject: 'carol' }));
    expect(authorizer.revoked).toHaveLength(2);
    await store.close();
  });
});
