import { AppError } from '../../src/domain/errors';

/** The kind and message of the AppError a domain call is refused with; fails when it succeeds or throws anything else. */
export async function refusal(p: Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppError) return { kind: e.kind, message: e.message };
    throw e;
  }
  throw new Error('expected a refusal, got success');
}
