/**
 * Errors a user can act on. The CLI prints `message` on one line (no stack unless --debug) and exits 2.
 * Convention for messages: what was checked, what was found, what to do — and the file, when there is one.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Throws a UserError naming `file` when `cond` is false. */
export function check(cond: unknown, file: string | undefined, message: string): asserts cond {
  if (!cond) throw new UserError(file ? `${file}: ${message}` : message);
}
