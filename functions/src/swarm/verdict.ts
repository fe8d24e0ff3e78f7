/**
 * How a swarm rollout stands, judged from the agent's report: the `Swarm Rollout State Change`
 * event that resumes the parked execution, or, when no event came, the agent's status parameter
 * (the agent writes it before it puts the event, so a lost event never hangs a deploy).
 *
 * Judged from the state and the images actually running, never from exit codes: a docker CLI
 * exits 0 after an automatic rollback (docker/cli#6752). An order is all or nothing: it deployed
 * only when every service runs its ordered image.
 */
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { describeIssues } from '../config/schema.ts';
import { awsCall, hasErrorName } from '../errors.ts';
import {
  type SwarmOrder,
  type SwarmRolloutReport,
  type SwarmRolloutState,
  swarmParameters,
  swarmRolloutReportSchema,
} from './contract.ts';

/** What each service ran and how its update went: the report's own forensics, kept whole. */
export type SwarmForensics = SwarmRolloutReport['services'];

export type SwarmVerdict =
  /** Not about this order (another deployment, a malformed detail): keep waiting. */
  | { readonly status: 'ignored'; readonly why: string }
  | { readonly status: 'in_progress'; readonly state: SwarmRolloutState }
  /** Every service runs its ordered image. */
  | { readonly status: 'deployed'; readonly report: SwarmRolloutReport }
  /**
   * Swarm's own `failure_action: rollback` put every service back and none runs the ordered image:
   * record it; Gantry must not roll back a second time.
   */
  | {
      readonly status: 'rolled_back_by_swarm';
      readonly reason: string;
      readonly forensics: SwarmForensics;
    }
  /** The rollback itself paused: the spec may be back on the old image while tasks still fail. */
  | { readonly status: 'rollback_paused'; readonly reason: string; readonly forensics: SwarmForensics }
  /**
   * It did not deploy. `changed` false: the agent refused the order and touched nothing, so there
   * is nothing to roll back; true: services may run anything, so Gantry orders last-good.
   */
  | {
      readonly status: 'failed';
      readonly state: SwarmRolloutState;
      readonly changed: boolean;
      readonly reason: string;
      readonly forensics: SwarmForensics;
    };

/** The order a verdict is about: its id, app/env and the image each service must run. */
export type ExpectedRollout = Pick<SwarmOrder, 'app' | 'env' | 'deploymentId' | 'services'>;

/** Judges one report (an event's `detail`, or the status parameter's body) against the order. */
export function judgeSwarmReport(detail: unknown, expected: ExpectedRollout): SwarmVerdict {
  const parsed = swarmRolloutReportSchema.safeParse(detail);
  if (!parsed.success) {
    return { status: 'ignored', why: `malformed report: ${describeIssues(parsed.error).join('; ')}` };
  }
  const report = parsed.data;
  if (report.app !== expected.app || report.env !== expected.env) {
    return {
      status: 'ignored',
      why: `report for ${report.app}/${report.env}, not ${expected.app}/${expected.env}`,
    };
  }
  if (report.deploymentId !== expected.deploymentId) {
    return {
      status: 'ignored',
      why: `report for deployment ${report.deploymentId}, not ${expected.deploymentId}`,
    };
  }
  const forensics = report.services;
  const reason = (fallback: string): string => report.reason ?? fallback;
  switch (report.state) {
    case 'accepted':
    case 'updating':
      return { status: 'in_progress', state: report.state };
    case 'completed': {
      const wrong = notRunningOrdered(report, expected);
      if (wrong.length === 0) return { status: 'deployed', report };
      // The agent's word is not enough: what runs decides (all or nothing).
      return {
        status: 'failed',
        state: report.state,
        changed: true,
        reason: `reported completed, but ${wrong.join('; ')}`,
        forensics,
      };
    }
    case 'rollback_completed': {
      const stillNew = runningOrdered(report, expected);
      if (stillNew.length === 0) {
        return { status: 'rolled_back_by_swarm', reason: reason('Swarm rolled the update back'), forensics };
      }
      // Swarm rolled some services back, others run the new image: last-good for every one.
      return {
        status: 'failed',
        state: report.state,
        changed: true,
        reason: `Swarm rolled back part of the order, but ${stillNew.join(', ')} run the ordered image${report.reason === undefined ? '' : `: ${report.reason}`}`,
        forensics,
      };
    }
    case 'rollback_paused':
      return { status: 'rollback_paused', reason: reason('the rollback paused'), forensics };
    case 'refused':
      return {
        status: 'failed',
        state: report.state,
        changed: false,
        reason: reason('the agent refused the order'),
        forensics,
      };
    case 'paused':
    case 'failed':
      return {
        status: 'failed',
        state: report.state,
        changed: true,
        reason: reason(`the update ${report.state}`),
        forensics,
      };
  }
}

/** Ordered services not running exactly their ordered image, in words. */
function notRunningOrdered(report: SwarmRolloutReport, expected: ExpectedRollout): string[] {
  return expected.services.flatMap((service) => {
    const seen = report.services.find((s) => s.name === service.name);
    if (seen === undefined) return [`${service.name} is missing from the report`];
    const running = seen.runningImages;
    if (running.length === 1 && running[0] === service.image) return [];
    return [`${service.name} runs ${running.length === 0 ? 'nothing' : running.join(', ')}`];
  });
}

/** Ordered services with a task running the ordered image. */
function runningOrdered(report: SwarmRolloutReport, expected: ExpectedRollout): string[] {
  return expected.services
    .filter((service) =>
      report.services.some((s) => s.name === service.name && s.runningImages.includes(service.image)),
    )
    .map((service) => service.name);
}

export type SwarmTimeoutVerdict =
  | Exclude<SwarmVerdict, { status: 'ignored' } | { status: 'in_progress' }>
  | { readonly status: 'timed_out'; readonly lastReport: string };

/**
 * The timeout path: the agent's status parameter, judged as an event would be. A final report
 * for this order decides as the event would have; none (or one still in progress) means the
 * rollout timed out, with what the agent last said.
 */
export async function verdictFromStatus(
  ssm: SSMClient,
  parameterPrefix: string,
  expected: ExpectedRollout,
): Promise<SwarmTimeoutVerdict> {
  const name = swarmParameters(parameterPrefix, expected.app, expected.env).status;
  let body: string | undefined;
  try {
    const { Parameter } = await awsCall(`reading the swarm status ${name}`, () =>
      ssm.send(new GetParameterCommand({ Name: name })),
    );
    body = Parameter?.Value;
  } catch (error) {
    if (!hasErrorName(error, 'ParameterNotFound')) throw error;
  }
  if (body === undefined) return { status: 'timed_out', lastReport: 'the agent never wrote a status' };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { status: 'timed_out', lastReport: 'the status parameter is not JSON' };
  }
  const verdict = judgeSwarmReport(json, expected);
  if (verdict.status === 'ignored') return { status: 'timed_out', lastReport: verdict.why };
  if (verdict.status === 'in_progress') {
    return { status: 'timed_out', lastReport: `still ${verdict.state} when the deploy timed out` };
  }
  return verdict;
}
