import { strict as assert } from 'node:assert';
import net from 'node:net';
import { explainListenError, listenAs, ListenerUnavailableError } from '../../../src/listen-errors.js';

const admin = { what: 'admin', portVariable: 'ADMIN_PORT', hostVariable: 'ADMIN_HOST' };

const listen = (port: number): Promise<net.Server> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });

describe('listener start-up errors name the variable to change', function () {
  it('a port in use (a real second listen) becomes one line naming the port variable', async function () {
    const first = await listen(0);
    const port = (first.address() as net.AddressInfo).port;
    try {
      await assert.rejects(listenAs(admin, '127.0.0.1', port, () => listen(port)), (err: Error) => {
        assert.ok(err instanceof ListenerUnavailableError);
        assert.equal(err.message, `admin port ${port} is in use (ADMIN_PORT)`);
        return true;
      });
    } finally {
      first.close();
    }
  });

  it('says what to do about a privileged port and an address not on this host', function () {
    const err = (code: string): Error => Object.assign(new Error(`listen ${code}`), { code });
    assert.equal(explainListenError(err('EACCES'), admin, '0.0.0.0', 443)?.message, 'admin port 443 needs a privilege this process lacks (ADMIN_PORT): use a port above 1023 or grant CAP_NET_BIND_SERVICE');
    assert.equal(explainListenError(err('EADDRNOTAVAIL'), admin, '10.9.9.9', 9090)?.message, 'admin address 10.9.9.9 is not an address of this host (ADMIN_HOST)');
    assert.equal(explainListenError(err('EADDRINUSE'), { ...admin, inUseHint: 'give each its own' }, 'h', 1)?.message, 'admin port 1 is in use (ADMIN_PORT): give each its own');
  });

  it('passes any other error through unchanged', async function () {
    const other = new Error('boom');
    assert.equal(explainListenError(other, admin, 'h', 1), undefined);
    await assert.rejects(listenAs(admin, 'h', 1, () => Promise.reject(other)), (e) => e === other);
  });
});
