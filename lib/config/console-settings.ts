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
  if (value(env, 'CONSOLE_PORT') === undefined) {
    if (usersFile !== undefined) throw new ConfigError('CONSOLE_USERS_FILE is set but CONSOLE_PORT is not; set CONSOLE_PORT (e.g. 8080) to serve the console, or unset CONSOLE_USERS_FILE.')
    return undefined
  }
  if (mode !== 'swarm') throw new ConfigError("CONSOLE_PORT is set but MODE is not swarm: the console shows and runs the controller's jobs. Unset CONSOLE_PORT.")
  if (usersFile === undefined) throw new ConfigError('CONSOLE_PORT is set but CONSOLE_USERS_FILE is not; nothing is shown without a login: set it to a Swarm secret of users made with rds console-user.')
  return { port: port(env, 'CONSOLE_PORT', 0), usersFile }
}
