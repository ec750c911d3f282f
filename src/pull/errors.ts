/** Errors of `dass pull`. All extend DassError, so the CLI prints them as `error: <message>`. */
import { DassError } from "../errors.js";

/**
 * The network is unreachable: the host could not be resolved or connected to, or the connection kept
 * dropping mid-transfer. A partial download is kept so that the next attempt resumes. The demo catches this
 * to fall back to a synthetic model.
 */
export class OfflineError extends DassError {
  /** The URL that could not be fetched. */
  readonly url: string;
  constructor(url: string, message: string) {
    super("ERR_OFFLINE", message);
    this.url = url;
  }
}

/** The server answered, but not with the file (HTTP error status, wrong size, bad Content-Range). */
export class DownloadError extends DassError {
  readonly url: string;
  /** HTTP status, when the failure is one. */
  readonly status: number | undefined;
  constructor(url: string, message: string, status?: number) {
    super("ERR_DOWNLOAD", message);
    this.url = url;
    this.status = status;
  }
}

/** A downloaded or cached file does not have the registered sha256 (or size). Its partial file is deleted. */
export class ChecksumError extends DassError {
  /** The file's name in the registry. */
  readonly file: string;
  readonly expected: string;
  readonly actual: string;
  constructor(file: string, expected: string, actual: string, message?: string) {
    super("ERR_CHECKSUM", message ?? `${file}: sha256 mismatch (expected ${expected}, got ${actual}); the download was deleted`);
    this.file = file;
    this.expected = expected;
    this.actual = actual;
  }
}

/** Another process is downloading the same model into the same cache. */
export class CacheLockedError extends DassError {
  readonly lockPath: string;
  constructor(lockPath: string, message: string) {
    super("ERR_CACHE_LOCKED", message);
    this.lockPath = lockPath;
  }
}
