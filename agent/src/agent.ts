/**
 * The swarm host agent: wakes on its SQS queue (or its backstop timer), reads each app/env's
 * order from Parameter Store, applies a new order once through the Docker Engine API, follows the
 * rollout to its end and reports every phase on the Gantry bus and in the status parameter.
 *
 * It holds no task token and no Step Functions right: a Gantry Lambda resumes the parked
 * execution from its events. Its clients come in, so tests pass the sandbox emulator's and the
 * docker lab's.
 */
import { hostname } from 'node:os';
import { type ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type Docker from 'dockerode';
import {
  agentEventSource,
  finalSwarmRolloutStates,
  type SwarmOrder,
  type SwarmRolloutReport,
  type SwarmRolloutState,
  swarmParameters,
  swarmRolloutDetailType,
  swarmRolloutReportSchema,
} from '../../functions/src/swarm/contract.ts';
import { type AgentConfig, type AgentTarget, usesEcrAuth } from './config.ts';
import {
  aggregate,
  checkOrder,
  deploymentLabel,
  failedTasks,
  judgeService,
  registryRuleFor,
  renderEnvironment,
  runningTasks,
  type ServiceView,
  splitImage,
  updatePolicy,
} from './decide.ts';
import { type RegistryAuth, type ServiceSpec, SwarmEngine } from './swarm.ts';

/** SQS's longest long poll, 20 s (API_ReceiveMessage `WaitTimeSeconds`): ~3 idle calls a minute. */
const pollWaitSeconds = 20;
/**
 * ECR tokens last 12 hours (API_GetAuthorizationToken) and the copy stored in a service does not
 * renew itself, so reschedules after that fail to pull (moby#36126). The agent re-stores fresh
 * credentials once less than this is left: every ~6 h, whatever the backstop interval.
 */
const authRefreshMarginMs = 6 * 3_600_000;
/** After an automatic rollback, how long the agent waits for the previous tasks to run again before reporting. */
const settleMs = 30_000;

export type AgentLog = (entry: {
  level: 'info' | 'warn' | 'error';
  msg: string;
  [key: string]: unknown;
}) => void;

export interface AgentDeps {
  readonly ssm: SSMClient;
  readonly sqs: SQSClient;
  readonly ecr: ECRClient;
  readonly events: EventBridgeClient;
  readonly docker: Docker;
  /** One JSON line per entry by default; never receives secrets or environment values. */
  readonly log?: AgentLog;
  /** Reported as `agent` (default: the host name). */
  readonly agentName?: string;
  readonly now?: () => number;
}

class Stopped extends Error {
  constructor() {
    super('the agent is stopping');
    this.name = 'Stopped';
  }
}

interface Status {
  readonly report: SwarmRolloutReport;
}

export class SwarmAgent {
  readonly #config: AgentConfig;
  readonly #deps: AgentDeps;
  readonly #engine: SwarmEngine;
  readonly #log: AgentLog;
  readonly #now: () => number;
  readonly #abort = new AbortController();
  #loops: Promise<unknown>[] = [];
  #backstop: NodeJS.Timeout | undefined;
  #passRunning: Promise<void> | undefined;
  /** Reasons of the passes asked for while one ran: they run together right after it. */
  readonly #passAgain = new Set<string>();
  /** Per target: the order parameter version already handled (applied, refused or resumed to its end). */
  readonly #handledVersion = new Map<string, number>();
  /** Per target: the last status written or read, to report only what changed. */
  readonly #status = new Map<string, Status>();
  #ecrAuth: { username: string; password: string; expiresAt: number } | undefined;
  /** Per service: until when the registry credentials stored in it are valid. */
  readonly #storedAuthUntil = new Map<string, number>();

  constructor(config: AgentConfig, deps: AgentDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#engine = new SwarmEngine(deps.docker);
    this.#log =
      deps.log ?? ((entry) => console.log(JSON.stringify({ time: new Date().toISOString(), ...entry })));
    this.#now = deps.now ?? Date.now;
  }

  /** Starts the queue loop and the backstop timer, after a first pass (which resumes what a previous run left). */
  start(): void {
    this.#log({
      level: 'info',
      msg: 'agent starting',
      targets: this.#config.targets.map((t) => `${t.app}/${t.env}`),
    });
    this.#loops.push(this.pass('start'), this.#pollLoop());
    this.#backstop = setInterval(() => {
      this.pass('backstop').catch(() => {});
    }, this.#config.backstopSeconds * 1000);
  }

  /** Stops polling and watching (a rollout in progress is left to the next run to follow) and waits. */
  async stop(): Promise<void> {
    this.#abort.abort();
    clearInterval(this.#backstop);
    await Promise.allSettled([...this.#loops, this.#passRunning]);
  }

  /**
   * One pass over every target: apply a new order, resume one left unfinished, refresh stored
   * registry credentials, report drift. Passes never overlap; a wake-up during a pass runs another
   * right after it.
   */
  async pass(reason: string): Promise<void> {
    if (this.#passRunning !== undefined) {
      this.#passAgain.add(reason);
      return this.#passRunning;
    }
    const run = async (): Promise<void> => {
      let reasons = new Set([reason]);
      while (reasons.size > 0 && !this.#abort.signal.aborted) {
        const periodic = reasons.has('backstop') || reasons.has('start');
        await Promise.all(
          this.#config.targets.map((target) =>
            this.#target(target, periodic).catch((error: unknown) => {
              if (error instanceof Stopped || this.#abort.signal.aborted) return;
              this.#log({ level: 'error', msg: 'pass failed', target: key(target), error: describe(error) });
            }),
          ),
        );
        reasons = new Set(this.#passAgain);
        this.#passAgain.clear();
      }
    };
    this.#passRunning = run().finally(() => {
      this.#passRunning = undefined;
    });
    return this.#passRunning;
  }

  async #pollLoop(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        const { Messages } = await this.#deps.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.#config.queueUrl,
            WaitTimeSeconds: pollWaitSeconds,
            MaxNumberOfMessages: 10,
          }),
          { abortSignal: signal },
        );
        if (Messages === undefined || Messages.length === 0) continue;
        // A wake-up only says "read your orders": delete it first, the backstop covers a failed pass.
        for (const message of Messages) {
          await this.#deps.sqs.send(
            new DeleteMessageCommand({
              QueueUrl: this.#config.queueUrl,
              ReceiptHandle: message.ReceiptHandle,
            }),
          );
        }
        await this.pass('wake-up');
      } catch (error) {
        if (signal.aborted) return;
        this.#log({ level: 'warn', msg: 'queue poll failed; retrying in 5 s', error: describe(error) });
        await sleep(5_000, signal).catch(() => {});
      }
    }
  }

  /** `periodic`: also the chores of the backstop pass (credentials, drift), not needed on a wake-up. */
  async #target(target: AgentTarget, periodic: boolean): Promise<void> {
    const names = swarmParameters(this.#config.parameterPrefix, target.app, target.env);
    const order = await this.#getParameter(names.order);
    if (order !== undefined && this.#handledVersion.get(key(target)) !== order.version) {
      await this.#handleOrder(target, order.value, order.version);
    }
    if (periodic) {
      await this.#refreshRegistryAuth(target);
      await this.#reportDrift(target);
    }
  }

  async #handleOrder(target: AgentTarget, raw: string, version: number): Promise<void> {
    const status = await this.#readStatus(target);
    const check = checkOrder(raw, target, this.#config);
    if (!check.ok) {
      if (status?.report.deploymentId !== check.deploymentId || status.report.state !== 'refused') {
        this.#log({
          level: 'warn',
          msg: `refused order ${check.deploymentId} for ${key(target)}: ${check.reason}`,
          target: key(target),
          deploymentId: check.deploymentId,
        });
        await this.#report(target, check.deploymentId, 'refused', [], check.reason);
      }
      this.#handledVersion.set(key(target), version);
      return;
    }
    const { order } = check;
    const previous = status?.report.deploymentId === order.deploymentId ? status.report.state : undefined;
    if (previous !== undefined && finalSwarmRolloutStates.includes(previous)) {
      // Applied before (by this run or an earlier one): an order runs once.
      this.#handledVersion.set(key(target), version);
      return;
    }
    if (previous === undefined) await this.#report(target, order.deploymentId, 'accepted', []);
    else
      this.#log({
        level: 'info',
        msg: 'resuming an unfinished order',
        target: key(target),
        deploymentId: order.deploymentId,
      });
    try {
      // Reported `updating` means every spec was written: a resumed run only watches (the
      // labels may already be gone, rolled back by Swarm).
      await this.#apply(target, order, previous === 'updating');
    } catch (error) {
      if (error instanceof Stopped || this.#abort.signal.aborted) throw new Stopped();
      this.#log({
        level: 'error',
        msg: 'order failed',
        target: key(target),
        deploymentId: order.deploymentId,
        error: describe(error),
      });
      await this.#report(
        target,
        order.deploymentId,
        'failed',
        await this.#views(order).catch(() => []),
        describe(error),
      );
    }
    this.#handledVersion.set(key(target), version);
  }

  /** Writes each service's spec (unless a previous run already did) and follows the rollout to its end. */
  async #apply(target: AgentTarget, order: SwarmOrder, alreadyWritten: boolean): Promise<void> {
    const names = swarmParameters(this.#config.parameterPrefix, target.app, target.env);
    let env: string[] | undefined;
    for (const service of alreadyWritten ? [] : order.services) {
      const current = await this.#engine.inspect(service.name);
      const written =
        current.spec.Labels?.[deploymentLabel] === order.deploymentId ||
        current.previous?.Labels?.[deploymentLabel] === order.deploymentId;
      if (written) continue;
      if (env === undefined && order.environmentVersion !== undefined) {
        const parameter = await this.#getParameter(`${names.environment}:${order.environmentVersion}`, true);
        if (parameter === undefined) {
          throw new Error(
            `environment parameter ${names.environment} version ${order.environmentVersion} does not exist`,
          );
        }
        env = renderEnvironment(parameter.value);
      }
      const template = current.spec.TaskTemplate ?? {};
      const spec: ServiceSpec = {
        ...current.spec,
        Labels: { ...current.spec.Labels, [deploymentLabel]: order.deploymentId },
        TaskTemplate: {
          ...template,
          ContainerSpec: {
            ...template.ContainerSpec,
            Image: service.image,
            ...(env === undefined ? {} : { Env: env }),
          },
          ...(order.force ? { ForceUpdate: (template.ForceUpdate ?? 0) + 1 } : {}),
        },
        ...updatePolicy(order.policy),
      };
      const auth = await this.#authFor(service.image);
      await this.#engine.update(service.name, current.version, spec, auth);
      if (auth !== undefined && this.#ecrAuth !== undefined)
        this.#storedAuthUntil.set(service.name, this.#ecrAuth.expiresAt);
      this.#log({
        level: 'info',
        msg: 'service updated',
        service: service.name,
        image: service.image,
        deploymentId: order.deploymentId,
      });
    }
    if (!alreadyWritten) await this.#report(target, order.deploymentId, 'updating', await this.#views(order));
    const deadline = this.#now() + this.#config.watchTimeoutSeconds * 1000;
    let settleUntil: number | undefined;
    for (;;) {
      const views = await this.#views(order);
      const verdicts = order.services.map((service, i) =>
        judgeService(views[i] as ServiceView, order.deploymentId, service.image),
      );
      const state = aggregate(verdicts.map((verdict) => verdict.state));
      const settling = state !== 'updating' && verdicts.some((verdict) => verdict.settling === true);
      if (settling) settleUntil ??= this.#now() + settleMs;
      if (state !== 'updating' && (!settling || this.#now() > (settleUntil ?? 0))) {
        const reasons = verdicts.flatMap((verdict) => (verdict.reason ? [verdict.reason] : []));
        await this.#report(target, order.deploymentId, state, views, reasons.join(' | ') || undefined);
        return;
      }
      if (this.#now() > deadline) {
        await this.#report(
          target,
          order.deploymentId,
          'failed',
          views,
          `no end after ${this.#config.watchTimeoutSeconds} s`,
        );
        return;
      }
      await sleep(this.#config.watchIntervalMs, this.#abort.signal);
    }
  }

  #views(order: SwarmOrder): Promise<ServiceView[]> {
    return Promise.all(order.services.map((service) => this.#engine.view(service.name)));
  }

  /** ECR credentials for an image whose registry rule says so; none for anonymous registries. */
  async #authFor(image: string): Promise<RegistryAuth | undefined> {
    const rule = registryRuleFor(this.#config, image);
    if (rule === undefined || !usesEcrAuth(rule)) return undefined;
    if (this.#ecrAuth === undefined || this.#ecrAuth.expiresAt - this.#now() < authRefreshMarginMs) {
      const { authorizationData } = await this.#deps.ecr.send(new GetAuthorizationTokenCommand({}));
      const data = authorizationData?.[0];
      const decoded = Buffer.from(data?.authorizationToken ?? '', 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0 || data?.expiresAt === undefined)
        throw new Error('ECR GetAuthorizationToken returned no usable token');
      this.#ecrAuth = {
        username: decoded.slice(0, colon),
        password: decoded.slice(colon + 1),
        expiresAt: data.expiresAt.getTime(),
      };
    }
    return {
      username: this.#ecrAuth.username,
      password: this.#ecrAuth.password,
      serveraddress: splitImage(image).registry,
    };
  }

  /**
   * Re-stores fresh ECR credentials in a target's services before the stored ones expire
   * (moby#36126). The spec is written back unchanged with new `X-Registry-Auth`: the engine does
   * not restart running tasks for a change of pull options alone (swarmkit `IsTaskDirty` ignores
   * `PullOptions` for tasks that already pulled, docker/swarmkit#971). Services mid-rollout are
   * left alone: the write would reset their `UpdateStatus`.
   */
  async #refreshRegistryAuth(target: AgentTarget): Promise<void> {
    for (const name of target.services) {
      const current = await this.#engine.inspect(name).catch(() => undefined);
      const image = current?.spec.TaskTemplate?.ContainerSpec?.Image;
      if (current === undefined || image === undefined) continue;
      const rule = registryRuleFor(this.#config, image);
      if (rule === undefined || !usesEcrAuth(rule)) continue;
      const until = this.#storedAuthUntil.get(name);
      if (until !== undefined && until - this.#now() > authRefreshMarginMs) continue;
      const updateState = (current.raw as { UpdateStatus?: { State?: string } }).UpdateStatus?.State;
      if (updateState === 'updating' || updateState === 'rollback_started') continue;
      const auth = await this.#authFor(image);
      await this.#engine.update(name, current.version, current.spec, auth);
      this.#storedAuthUntil.set(name, this.#ecrAuth?.expiresAt ?? 0);
      this.#log({ level: 'info', msg: 'registry credentials refreshed in service', service: name });
    }
  }

  /** Reports what actually runs when it differs from the last status: drift becomes visible. */
  async #reportDrift(target: AgentTarget): Promise<void> {
    const status = this.#status.get(key(target));
    // A refused order changed nothing: there is no rollout whose outcome could drift.
    if (status === undefined || status.report.state === 'refused') return;
    const views = await Promise.all(
      target.services.map((name) => this.#engine.view(name).catch(() => undefined)),
    );
    const running = (list: readonly { name: string; runningImages: readonly string[] }[]) =>
      JSON.stringify(list.map((s) => [s.name, [...s.runningImages].sort()]).sort());
    const now = views.flatMap((view) => (view === undefined ? [] : [serviceReport(view)]));
    const before = status.report.services.filter((s) => target.services.includes(s.name));
    if (running(now) === running(before)) return;
    await this.#report(
      target,
      status.report.deploymentId,
      status.report.state,
      views.filter((v) => v !== undefined),
      status.report.reason,
    );
  }

  async #readStatus(target: AgentTarget): Promise<Status | undefined> {
    const cached = this.#status.get(key(target));
    if (cached !== undefined) return cached;
    const names = swarmParameters(this.#config.parameterPrefix, target.app, target.env);
    const parameter = await this.#getParameter(names.status);
    if (parameter === undefined) return undefined;
    const parsed = swarmRolloutReportSchema.safeParse(safeJson(parameter.value));
    if (!parsed.success) {
      this.#log({
        level: 'warn',
        msg: 'status parameter unreadable; treating as empty',
        target: key(target),
      });
      return undefined;
    }
    const status = { report: parsed.data };
    this.#status.set(key(target), status);
    return status;
  }

  /** Writes the status parameter, then puts the event: the status is what a lost event falls back on. */
  async #report(
    target: AgentTarget,
    deploymentId: string,
    state: SwarmRolloutState,
    views: readonly ServiceView[],
    reason?: string,
  ): Promise<void> {
    const report = swarmRolloutReportSchema.parse({
      app: target.app,
      env: target.env,
      deploymentId,
      state,
      ...(reason === undefined ? {} : { reason: reason.slice(0, 2_000) }),
      services: views.map(serviceReport),
      agent: this.#deps.agentName ?? hostname(),
      reportedAt: new Date(this.#now()).toISOString(),
    });
    const names = swarmParameters(this.#config.parameterPrefix, target.app, target.env);
    const body = JSON.stringify(report);
    await this.#deps.ssm.send(
      new PutParameterCommand({ Name: names.status, Value: body, Type: 'String', Overwrite: true }),
    );
    this.#status.set(key(target), { report });
    const result = await this.#deps.events.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: agentEventSource,
            DetailType: swarmRolloutDetailType,
            Detail: body,
            EventBusName: this.#config.eventBusName,
          },
        ],
      }),
    );
    if ((result.FailedEntryCount ?? 0) > 0) {
      // The status parameter already holds the report; Gantry's timeout path reads it.
      this.#log({
        level: 'warn',
        msg: 'event not accepted',
        error: result.Entries?.[0]?.ErrorCode,
        deploymentId,
      });
    }
    this.#log({
      level: 'info',
      msg: `reported ${state}`,
      target: key(target),
      deploymentId,
      ...(reason ? { reason } : {}),
    });
  }

  async #getParameter(
    name: string,
    decrypt = false,
  ): Promise<{ value: string; version: number } | undefined> {
    try {
      const { Parameter } = await this.#deps.ssm.send(
        new GetParameterCommand({ Name: name, WithDecryption: decrypt }),
      );
      return { value: Parameter?.Value ?? '', version: Parameter?.Version ?? 0 };
    } catch (error) {
      if (
        (error as Error).name === 'ParameterNotFound' ||
        (error as Error).name === 'ParameterVersionNotFound'
      ) {
        return undefined;
      }
      throw error;
    }
  }
}

function serviceReport(view: ServiceView) {
  return {
    name: view.name,
    ...(view.specImage === '' ? {} : { specImage: view.specImage }),
    runningImages: [...new Set(runningTasks(view).map((task) => task.image))],
    ...(view.updateState === undefined ? {} : { updateState: view.updateState }),
    ...(view.updateMessage === undefined ? {} : { updateMessage: view.updateMessage }),
    failedTasks: failedTasks(view),
  };
}

const key = (target: AgentTarget): string => `${target.app}/${target.env}`;

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Stopped());
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new Stopped());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
