import { AppError, type ErrorKind } from '../errors';

/**
 * Why an archive was refused. The reason is a bounded label (metrics `reason`, progress `error.reason`); the
 * message names the problem for the user. Everything here is a 4xx: the archive, not hubgate, is at fault.
 */
export type ArchiveReason =
  | 'empty'
  | 'interrupted'
  | 'not_tar'
  | 'unsupported_compression'
  | 'truncated_tar'
  | 'truncated_gzip'
  | 'corrupt_gzip'
  | 'corrupt_tar'
  | 'gzip_bomb'
  | 'too_large'
  | 'too_many_entries'
  | 'unsafe_path'
  | 'unsafe_link'
  | 'missing_manifest'
  | 'missing_blob'
  | 'invalid_json'
  | 'invalid_manifest'
  | 'digest_mismatch'
  | 'invalid_name'
  | 'invalid_tag'
  | 'name_required'
  | 'duplicate_reference'
  | 'bad_multipart'
  | 'idle_timeout'
  | 'shutdown'
  | 'no_space'
  | 'workspace_changed'
  | 'quota_exceeded'
  | 'immutable_version';

export class ArchiveError extends AppError {
  constructor(
    readonly reason: ArchiveReason,
    message: string,
    kind: ErrorKind = reason === 'too_large' ? 'too_large' : 'invalid',
  ) {
    super(kind, message);
    this.name = 'ArchiveError';
  }
}
