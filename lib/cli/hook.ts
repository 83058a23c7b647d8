import type { Command } from 'commander'
import { readConfig } from '../config/environment.js'
import { ConfigError } from '../errors.js'
import { runHook } from '../run/hooks.js'
import { lazyDockerEngine, type CommandContext } from './context.js'

const WHICH = { pre: 'PRE_HOOK', post: 'POST_HOOK' } as const

export function addHookCommand(program: Command, { cli, plainLog }: CommandContext): void {
  program
    .command('hook')
    .description('run PRE_HOOK or POST_HOOK now, as a backup runs it: in a running container of SERVICE_NAME on this node (to try a hook out; restore hooks run this way)')
    .argument('<which>', '"pre" or "post"')
    .action(async (which: string) => {
      if (which !== 'pre' && which !== 'post') throw new ConfigError(`rds hook runs "pre" or "post", not ${JSON.stringify(which)}.`)
      const config = readConfig(cli.env)
      const variable = WHICH[which]
      const command = which === 'pre' ? config.preHook : config.postHook
      if (command === undefined) throw new ConfigError(`${variable} is not set; set it to the command to run in the service's container.`)
      // readConfig refuses a hook without SERVICE_NAME.
      const hook = { name: `${which}-hook`, variable, service: config.serviceName!, command, timeout: config.hookTimeout }
      await runHook(await lazyDockerEngine()(), hook, plainLog, cli.stop)
    })
}
