/**
 * Runs a transaction again when InnoDB chose it as a deadlock's victim (or it timed out waiting
 * for a lock): the victim's work was rolled back whole, so running it again is safe.
 */
import { isLockConflict } from './errors';

const DEADLOCK_RETRIES = 3;

export async function retryOnDeadlock<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!isLockConflict(err) || attempt >= DEADLOCK_RETRIES) throw err;
    }
  }
}
