import { stringify } from 'yaml'
import type { ServiceDefinition } from '../swarm/definition.js'
import { STACK_LABEL } from '../swarm/definition.js'
import { emptyToUndefined, inStack, serviceEntry, withoutStackLabels, type Spec } from './stack-service.js'

/** A stack file, the files its configs are read from, and what of the saved specs it could not carry. */
export interface StackFile {
  yaml: string
  /** Each config's file, by its name in the stack file: `configs/NAME`, beside the stack file. */
  configFiles: { path: string; data: Buffer }[]
  /** One sentence per setting a stack file cannot express: never dropped in silence. */
  notCarried: string[]
}

/** `docker stack deploy` reads $ as the start of a variable: a literal one is written $$. */
const escapeDollars = (value: unknown): unknown => {
  if (typeof value === 'string') return value.replaceAll('$', () => '$$')
  if (Array.isArray(value)) return value.map(escapeDollars)
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, escapeDollars(inner)]))
  return value
}

/**
 * A stack file `docker stack deploy -c FILE STACK` accepts, from the saved definitions of one
 * stack's services: each service as its spec was, its volumes, networks and configs (those the
 * stack made are made again; others are external), its secrets external by their names (to be
 * created first), and a withheld variable written as ${NAME}, for the deployer's environment.
 */
export function stackFile(stack: string, definitions: ServiceDefinition[]): StackFile {
  const services: Record<string, unknown> = {}
  const volumes: Record<string, unknown> = {}
  const networks: Record<string, unknown> = {}
  const configs: Record<string, unknown> = {}
  const secrets: Record<string, unknown> = {}
  const configFiles: StackFile['configFiles'] = []
  const notCarried: string[] = []
  for (const definition of definitions) {
    const name = inStack(stack, definition.name)
    const entry = serviceEntry(stack, definition.spec as Spec, definition, notCarried)
    services[name] = escapeDollars(entry.service)
    // Withheld values: ${NAME}, interpolated by docker stack deploy from the deployer's environment.
    if (definition.withheld.length > 0) {
      const environment = (services[name] as { environment?: string[] }).environment ?? []
      ;(services[name] as { environment?: string[] }).environment = [...environment, ...definition.withheld.map((key) => `${key}=\${${key}}`)]
    }
    Object.assign(volumes, entry.volumes)
    for (const network of Object.values(definition.networks)) {
      const own = network.Labels?.[STACK_LABEL] === stack
      networks[inStack(stack, network.Name)] = own
        ? { driver: network.Driver, attachable: network.Attachable || undefined, internal: network.Internal || undefined, driver_opts: emptyToUndefined(network.Options), labels: withoutStackLabels(network.Labels) }
        : { external: true, name: network.Name }
    }
    for (const config of Object.values(definition.configs)) {
      const key = inStack(stack, config.Name)
      const path = `configs/${key}`
      const own = config.Labels?.[STACK_LABEL] === stack
      configs[key] = { file: `./${path}`, ...(own ? {} : { name: config.Name }), labels: withoutStackLabels(config.Labels) }
      configFiles.push({ path, data: Buffer.from(config.Data, 'base64') })
    }
    for (const secret of entry.secrets) secrets[inStack(stack, secret)] = { external: true, name: secret }
  }
  const kept = prune({ version: '3.8', services, volumes, networks, configs, secrets })
  const header = `# The stack ${stack} as rds saved it with its backups: deploy with docker stack deploy -c FILE ${stack}.\n`
  return { yaml: header + stringify(kept, { lineWidth: 0, aliasDuplicateObjects: false }), configFiles, notCarried }
}

/** Without what is unset: undefined values, and objects left empty. */
function prune(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(prune)
  if (!value || typeof value !== 'object') return value
  const entries = Object.entries(value).map(([key, inner]) => [key, prune(inner)] as const).filter(([, inner]) => inner !== undefined)
  return entries.length > 0 ? Object.fromEntries(entries) : undefined
}
