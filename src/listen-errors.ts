/*
 * A listener that cannot open at start-up is a configuration problem of this host, not a bug: the operator needs the
 * variable to change, not Node's `listen EADDRINUSE: address already in use 127.0.0.1:9090` and a stack. The usual
 * case is the web and worker process types on one host with the same ADMIN_PORT (deploy/web.env, deploy/worker.env).
 */

/** One of our listeners, named as the operator configures it. */
export interface ListenerName {
  /** What it is, as the message starts: "admin", "BaRS listener", "PAS events". */
  readonly what: string;
  /** The variable that sets its port. */
  readonly portVariable: string;
  /** The variable that sets its address. */
  readonly hostVariable: string;
  /** Said after an address-in-use message (e.g. that web and worker each need their own admin port). */
  readonly inUseHint?: string;
}

/** A listener that could not open, with a one-line message naming the variable to change. */
export class ListenerUnavailableError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.name = 'ListenerUnavailableError';
    this.code = code;
  }
}

/** The one-line explanation of a listen failure, or undefined for an error that is not about the port or address. */
export function explainListenError(err: unknown, listener: ListenerName, host: string, port: number): ListenerUnavailableError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const { what, portVariable, hostVariable } = listener;
  switch (code) {
    case 'EADDRINUSE':
      return new ListenerUnavailableError(`${what} port ${port} is in use (${portVariable})${listener.inUseHint ? `: ${listener.inUseHint}` : ''}`, code);
    case 'EACCES':
      return new ListenerUnavailableError(
        `${what} port ${port} needs a privilege this process lacks (${portVariable}): use a port above 1023 or grant CAP_NET_BIND_SERVICE`,
        code,
      );
    case 'EADDRNOTAVAIL':
      return new ListenerUnavailableError(`${what} address ${host} is not an address of this host (${hostVariable})`, code);
    default:
      return undefined;
  }
}

/** Runs `listen`, turning a port or address failure into a ListenerUnavailableError; other errors pass unchanged. */
export async function listenAs<T>(listener: ListenerName, host: string, port: number, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (err) {
    throw explainListenError(err, listener, host, port) ?? err;
  }
}
