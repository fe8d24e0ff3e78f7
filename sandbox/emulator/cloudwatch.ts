/**
 * CloudWatch as Gantry's gates read it: `DescribeAlarms` by alarm names (and `StateValue`,
 * `AlarmTypes`). @aws-sdk/client-cloudwatch speaks JSON 1.0 with
 * `X-Amz-Target: GraniteServiceVersion20100801.<Op>` (its protocol settings: awsJson1_0,
 * awsQueryCompatible). Alarms are seeded and switched by tests and demos (`setAlarm`); nothing
 * evaluates metrics. Shapes: CloudWatch API reference, DescribeAlarms and MetricAlarm, as modelled
 * by @aws-sdk/client-cloudwatch (`dist-types/models/models_0.d.ts`). Alarm events ("CloudWatch
 * Alarm State Change") are not emitted here: a test publishes them on the bus when it flips one.
 */
import type { SimClock } from './clock.ts';
import {
  epochSeconds,
  type JsonObject,
  type Params,
  type ServiceDefinition,
  UnsupportedParameter,
} from './protocol.ts';

type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

interface Alarm {
  name: string;
  state: AlarmState;
  reason: string;
  updatedAt: number;
}

export class CloudWatchState {
  readonly #alarms = new Map<string, Alarm>();

  constructor(
    private readonly clock: SimClock,
    private readonly region: string,
    private readonly accountId: string,
  ) {}

  /** Creates or switches a metric alarm's state (as PutMetricAlarm then SetAlarmState would). */
  setAlarm(name: string, state: AlarmState, reason = `set to ${state} by the sandbox`): void {
    this.#alarms.set(name, { name, state, reason, updatedAt: this.clock.now() });
  }

  service(): ServiceDefinition {
    return {
      name: 'cloudwatch',
      targetPrefix: 'GraniteServiceVersion20100801',
      validationError: 'InvalidParameterValue',
      operations: {
        DescribeAlarms: {
          keys: ['AlarmNames', 'AlarmTypes', 'StateValue'],
          handle: (p: Params) => {
            const names = p.stringArray('AlarmNames');
            if (names === undefined) {
              throw new UnsupportedParameter(
                'cloudwatch DescribeAlarms: only by AlarmNames is emulated by the Gantry sandbox',
              );
            }
            // "AlarmNames: … Maximum number of 100 items" (DescribeAlarms, API reference).
            if (names.length > 100) throw p.invalid('AlarmNames: at most 100 items');
            const types = p.stringArray('AlarmTypes') ?? ['MetricAlarm'];
            const state = p.string('StateValue');
            const found = names
              .map((name) => this.#alarms.get(name))
              .filter((alarm): alarm is Alarm => alarm !== undefined)
              .filter((alarm) => state === undefined || alarm.state === state);
            return {
              MetricAlarms: types.includes('MetricAlarm') ? found.map((alarm) => this.#render(alarm)) : [],
              CompositeAlarms: [],
            };
          },
        },
      },
    };
  }

  #render(alarm: Alarm): JsonObject {
    return {
      AlarmName: alarm.name,
      AlarmArn: `arn:aws:cloudwatch:${this.region}:${this.accountId}:alarm:${alarm.name}`,
      StateValue: alarm.state,
      StateReason: alarm.reason,
      StateUpdatedTimestamp: epochSeconds(alarm.updatedAt),
    };
  }
}
