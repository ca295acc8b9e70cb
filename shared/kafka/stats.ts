/** Counters of one message log, for metrics and tests; they only grow. */
export interface KafkaLogStats {
  /** Messages acknowledged by Kafka through append. */
  appended: number;
  /** Messages in handler calls that resolved. */
  handled: number;
  handlerFailures: number;
  deadLettered: number;
  /** Offset commits after handled (or dead-lettered) messages. */
  commits: number;
  /** Group (re)joins of this log's consumers after their first. */
  rebalances: number;
  /** Batches or retries dropped because the partition was lost, the group moved on or stop(). */
  abandonedBatches: number;
  /** Commits not sent for handled messages because the partition was no longer this member's. */
  skippedCommits: number;
  /** Commits that failed: mostly the broker refusing a generation the group has left behind. */
  failedCommits: number;
}

export function createStats(): KafkaLogStats {
  return {
    appended: 0,
    handled: 0,
    handlerFailures: 0,
    deadLettered: 0,
    commits: 0,
    rebalances: 0,
    abandonedBatches: 0,
    skippedCommits: 0,
    failedCommits: 0,
  };
}
