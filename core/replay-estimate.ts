// What a replay's --dry-run asks of a processor: given the records it would reprocess, how
// many provider calls its caches already answer, and the calls and dollars for the rest.
// Processors that call no model need no estimator: the dry run then counts records only.
import type { Logger } from './logger';
import type { StoreProvider } from './store';

export interface ReplayEstimateEnv {
  /** The stores the node would open (the verdict cache, on the cluster or on disk). */
  stores: StoreProvider;
  logger: Logger;
  /** The latest records the node wrote on an output port (up to `max`), to price calls by what they cost lately. */
  recentOutputs(port: string, max: number): Promise<unknown[]>;
}

export interface CallEstimate {
  /** Stage calls the caches answer: no provider call, no dollars. */
  cached: number;
  /** Calls that will be made for sure (their inputs are known and not cached). */
  certain: number;
  /** Expected calls, `certain` included (the rest depends on answers not known yet). */
  expected: number;
  /** Fewest and most calls the replay can make (repair retries aside). */
  min: number;
  max: number;
}

export interface ReplayEstimate {
  records: number;
  calls: CallEstimate;
  /** Per stage (or tool), the same counts. */
  byStage: Record<string, CallEstimate>;
  /** Expected dollars, null when no recent priced call says what one costs. */
  usd: number | null;
  /** How the figures were made (assumptions, where prices came from). */
  notes: string[];
}

export interface ReplayEstimator<T> {
  add(value: T): Promise<void>;
  result(): ReplayEstimate;
}

export function emptyCalls(): CallEstimate {
  return { cached: 0, certain: 0, expected: 0, min: 0, max: 0 };
}
