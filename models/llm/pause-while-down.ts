// While a provider's circuit breaker is not closed, a node stops taking records (on Kafka
// its consumer pauses) instead of failing them; it resumes when the breaker closes.
import { distinctUntilChanged, map, Observable, Subscription } from 'rxjs';
import type { FlowControl } from '../../core/processor';

export function pauseWhileDown(provider: { kind: string; model: string; state$: Observable<string> }, flow: FlowControl): Subscription {
  return provider.state$
    .pipe(
      map((s) => s !== 'closed'),
      distinctUntilChanged(),
    )
    .subscribe((down) => (down ? flow.pause(`provider ${provider.kind}/${provider.model} is down (circuit open)`) : flow.resume()));
}
