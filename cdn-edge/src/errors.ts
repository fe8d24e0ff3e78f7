/**
 * The one error type of the resizer: an HTTP status, a namespaced code (`Url.BadSize`,
 * `Resize.TooLarge`, …) and a message safe to show to the viewer. Mapped to a response in one place
 * (`http.ts`). Anything that is not an HttpError is a bug and becomes a 500.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  /** Seconds, for 503s: sent as Retry-After. */
  readonly retryAfter: number | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    options?: ErrorOptions & { retryAfter?: number },
  ) {
    super(message, options);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.retryAfter = options?.retryAfter;
  }
}

export const badRequest = (code: string, message: string): HttpError =>
  new HttpError(400, `Url.${code}`, message);
