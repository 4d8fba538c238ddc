import type { JobHandler, Logger, PayloadOf } from '@sluice/core';
import nodemailer, { type Transporter } from 'nodemailer';
import type { email } from '../definitions.js';

/** Where and how `email` jobs are sent. */
export interface MailerOptions {
  /** SMTP server URL; unset means messages are logged and not sent. */
  smtpUrl: string | undefined;
  /** Sender address. */
  from: string;
  logger: Logger;
}

/** A transport to SMTP_URL, or, when unset, one that only logs what it would have sent. */
export function createMailTransport(options: MailerOptions): Transporter {
  if (options.smtpUrl) return nodemailer.createTransport(options.smtpUrl);
  options.logger.warn({}, 'SMTP_URL is not set: email jobs will be logged, not sent');
  return nodemailer.createTransport({ jsonTransport: true });
}

/** Sends the job's message; an SMTP refusal fails the attempt. */
export function emailHandler(transport: Transporter, options: MailerOptions): JobHandler<PayloadOf<typeof email>> {
  return async ({ id, payload }) => {
    const info = await transport.sendMail({
      from: options.from,
      to: payload.to,
      subject: payload.subject,
      text: payload.text,
      html: payload.html,
      // Lets the receiving side drop a second delivery of the same job.
      messageId: `<${id}@sluice>`,
    });
    if (!options.smtpUrl) options.logger.info({ jobId: id, to: payload.to, subject: payload.subject }, 'email logged (SMTP_URL unset)');
    return { messageId: info.messageId };
  };
}
