/** What `run` throws (undefined when it does not), for assertions outside any try/catch. */
export function errorOf(run: () => unknown): Error | undefined {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  return undefined;
}
