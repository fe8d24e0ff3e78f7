/**
 * The Docker Engine side of the agent, over the engine's socket with dockerode (never the docker
 * CLI): read a service and its tasks, write a service spec with registry credentials.
 */
import type Docker from 'dockerode';
import { deploymentLabel, type ServiceView, type TaskView } from './decide.ts';

/** Credentials for one registry, as the Engine API's `X-Registry-Auth` header carries them. */
export interface RegistryAuth {
  readonly username: string;
  readonly password: string;
  readonly serveraddress: string;
}

/** What a service spec looks like to the agent: the Engine API's `ServiceSpec`, loosely typed. */
export type ServiceSpec = Omit<Docker.ServiceSpec, 'TaskTemplate'> & {
  TaskTemplate?: Docker.ContainerTaskSpec & { ForceUpdate?: number };
};

interface RawTask {
  ID: string;
  DesiredState?: string;
  Status?: { State?: string; Err?: string; Timestamp?: string; ContainerStatus?: { ExitCode?: number } };
  Spec?: { ContainerSpec?: { Image?: string; Env?: string[] }; ForceUpdate?: number };
}

export class SwarmServiceNotFound extends Error {
  constructor(service: string) {
    super(`service ${service} does not exist on this swarm`);
    this.name = 'SwarmServiceNotFound';
  }
}

function notFound(error: unknown): boolean {
  return (error as { statusCode?: number }).statusCode === 404;
}

export class SwarmEngine {
  readonly #docker: Docker;

  constructor(docker: Docker) {
    this.#docker = docker;
  }

  /** The service's spec and version (for an optimistic-concurrency update). */
  async inspect(name: string): Promise<{
    spec: ServiceSpec;
    version: number;
    previous?: ServiceSpec;
    raw: Docker.Service & Record<string, unknown>;
  }> {
    try {
      const raw = (await this.#docker.getService(name).inspect()) as Record<string, unknown> & {
        Spec: ServiceSpec;
        PreviousSpec?: ServiceSpec;
        Version: { Index: number };
      };
      return {
        spec: raw.Spec,
        version: raw.Version.Index,
        ...(raw.PreviousSpec === undefined ? {} : { previous: raw.PreviousSpec }),
        raw: raw as never,
      };
    } catch (error) {
      if (notFound(error)) throw new SwarmServiceNotFound(name);
      throw error;
    }
  }

  /** Writes a spec; `auth` is stored with the service so its nodes can pull (`--with-registry-auth`). */
  async update(name: string, version: number, spec: ServiceSpec, auth?: RegistryAuth): Promise<void> {
    await this.#docker
      .getService(name)
      .update({ ...spec, version, ...(auth === undefined ? {} : { authconfig: auth }) });
  }

  /** The service as the decision functions read it. */
  async view(name: string): Promise<ServiceView> {
    const { spec, raw } = await this.inspect(name);
    const tasks = (await this.#docker.listTasks({ filters: { service: [name] } })) as RawTask[];
    const container = spec.TaskTemplate?.ContainerSpec;
    const updateStatus = (raw as { UpdateStatus?: { State?: string; Message?: string } }).UpdateStatus;
    const replicated = (spec.Mode as { Replicated?: { Replicas?: number } } | undefined)?.Replicated;
    return {
      name,
      specDeployment: spec.Labels?.[deploymentLabel],
      specImage: container?.Image ?? '',
      specEnv: [...(container?.Env ?? [])],
      specForceUpdate: spec.TaskTemplate?.ForceUpdate ?? 0,
      replicas: replicated === undefined ? undefined : (replicated.Replicas ?? 1),
      updateState: updateStatus?.State,
      updateMessage: updateStatus?.Message,
      tasks: tasks.map(
        (task): TaskView => ({
          id: task.ID,
          desiredState: task.DesiredState ?? '',
          state: task.Status?.State ?? '',
          error: task.Status?.Err,
          exitCode: task.Status?.ContainerStatus?.ExitCode,
          image: task.Spec?.ContainerSpec?.Image ?? '',
          env: [...(task.Spec?.ContainerSpec?.Env ?? [])],
          forceUpdate: task.Spec?.ForceUpdate ?? 0,
          timestamp: task.Status?.Timestamp ?? '',
        }),
      ),
    };
  }
}
