import { AppError } from '../../src/domain/errors';

/** The AppError a call is refused with; fails when it succeeds or throws anything else. */
export async function appError(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected a refusal, got success');
}

/** The kind and message of the AppError a domain call is refused with; fails when it succeeds or throws anything else. */
export async function refusal(p: Promise<unknown>): Promise<{ kind: string; message: string }> {
  const e = await appError(p);
  return { kind: e.kind, message: e.message };
}
