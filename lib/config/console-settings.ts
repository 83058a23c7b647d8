import { ConfigError } from '../errors.js'
import { port, value, type Env } from './values.js'

/** Where the web console listens, and its users (MODE=swarm only). */
export interface ConsoleSettings {
  /** CONSOLE_PORT */
  port: number
  /** CONSOLE_USERS_FILE: its users and tokens, a Swarm secret. */
  usersFile: string
}

/** CONSOLE_PORT and CONSOLE_USERS_FILE: both or neither, and only for the controller of MODE=swarm. */
export function consoleSettings(env: Env, mode: string): ConsoleSettings | undefined {
  const usersFile = value(env, 'CONSOLE_USERS_FILE')
  const set = ['CONSOLE_PORT', 'CONSOLE_USERS_FILE'].find((name) => value(env, name) !== undefined)
  if (set !== undefined && mode !== 'swarm') throw new ConfigError(`${set} is set but MODE is not swarm: the console shows and runs the controller's jobs. Unset ${set}.`)
  if (value(env, 'CONSOLE_PORT') === undefined) {
    if (usersFile !== undefined) throw new ConfigError('CONSOLE_USERS_FILE is set but CONSOLE_PORT is not; set CONSOLE_PORT (e.g. 8080) to serve the console, or unset CONSOLE_USERS_FILE.')
    return undefined
  }
  if (usersFile === undefined) throw new ConfigError('CONSOLE_PORT is set but CONSOLE_USERS_FILE is not; nothing is shown without a login: set it to a Swarm secret of users made with rds console-user.')
  const consolePort = port(env, 'CONSOLE_PORT', 0)
  if (value(env, 'METRICS_PORT') !== undefined && port(env, 'METRICS_PORT', 0) === consolePort) throw new ConfigError(`CONSOLE_PORT and METRICS_PORT are both ${consolePort}; give the console a port of its own.`)
  return { port: consolePort, usersFile }
}
