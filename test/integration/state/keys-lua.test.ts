/*
 * The Lua scripts of the delivery lanes build keys from the prefix with functions generated from the key table
 * (luaKeyFunctions); on a real Redis they must build exactly the names the TypeScript builders build.
 */
import { strict as assert } from 'node:assert';
import { Redis } from 'ioredis';
import { FAMILIES, keyspace, luaKeyFunctions, type FamilyName } from '../../../src/state/keys.js';

describe('key table: Lua key functions', function () {
  it('build the same key as keyspace(prefix) for every family', async function () {
    const redis = new Redis(process.env.TEST_REDIS_URL!);
    try {
      const k = keyspace('{bars}') as unknown as Record<string, (...args: string[]) => string>;
      const args = ['dest-1', 'ServiceRequest/abc.map-1', 'third'];
      for (const name of Object.keys(FAMILIES) as FamilyName[]) {
        const lua = `${luaKeyFunctions([name])}\nreturn key_${name}(ARGV[1], ARGV[2], ARGV[3], ARGV[4])`;
        assert.equal(await redis.eval(lua, 0, '{bars}', ...args), k[name]!(...args), name);
      }
    } finally {
      redis.disconnect();
    }
  });
});
