// Minimal typing of the autocannon API the benchmarks use (the package ships none).
declare module 'autocannon' {
  namespace autocannon {
    interface Histogram { average: number; p50: number; p90: number; p99: number; max: number }
    interface Result { requests: Histogram; latency: Histogram; non2xx: number; errors: number; timeouts: number; '2xx': number }
    interface Request { method?: string; path?: string; headers?: Record<string, string>; body?: string; setupRequest?: (req: Request) => Request; onResponse?: (status: number, body: string) => void }
    interface Options {
      url: string; connections?: number; duration?: number; overallRate?: number; amount?: number;
      tlsOptions?: Record<string, unknown>; requests?: Request[]; headers?: Record<string, string>; method?: string; body?: string;
    }
  }
  function autocannon(opts: autocannon.Options): Promise<autocannon.Result>;
  export default autocannon;
}
