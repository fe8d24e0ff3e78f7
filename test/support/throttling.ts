/** A throttling error as the SDK hands it over once its own retries ran out. */
export function throttled(): Error {
  return Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} });
}

/** What a Gantry step throws when a call stays throttled: TransientAwsError saying what it was `doing`. */
export function transientWhile(doing: string) {
  return { name: 'TransientAwsError', message: `${doing}: ThrottlingException: Rate exceeded` };
}
