import type { Stage } from 'aws-cdk-lib/aws-apigateway';
import { CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { PayloadTooLargeError, UploadTooLargeError } from '../../../lambda/openai/errors';
import {
  BINARY_MEDIA_TYPES,
  MAX_MULTIPART_REQUEST_BYTES,
  MAX_REQUEST_BYTES,
} from '../../../lambda/openai/request-size';

/** AWS WAF's longest regex (RegexMatchStatement.RegexString: 1-512 characters). */
export const WAF_REGEX_MAX_LENGTH = 512;

/**
 * A regex (the PCRE subset AWS WAF runs, and JavaScript's) that matches a decimal header value
 * greater than `limit`: any number with more significant digits, or as many digits and larger at
 * the first digit that differs. Leading zeros and surrounding blanks are allowed, as in a
 * `Content-Length` a client may send. Only non-capturing groups: WAF refuses capturing ones.
 */
export function decimalAbovePattern(limit: number): string {
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new Error(`decimalAbovePattern: ${limit} is not a non-negative integer`);
  }
  const digits = String(limit);
  const longer = `[1-9][0-9]{${digits.length},}`;
  const sameLength = [...digits].flatMap((digit, index) => {
    if (digit === '9') return [];
    const next = Number(digit) + 1;
    const range = next === 9 ? '9' : `[${next}-9]`;
    const rest = digits.length - index - 1;
    return [`${digits.slice(0, index)}${range}${rest > 0 ? `[0-9]{${rest}}` : ''}`];
  });
  return `^[ \\t]*0*(?:${[longer, ...sameLength].join('|')})[ \\t]*$`;
}

/** A regex matching a lowercased `Content-Type` whose media type is one of `mediaTypes`. */
export function mediaTypePattern(mediaTypes: readonly string[]): string {
  const escaped = mediaTypes.map((type) => type.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return `^[ \\t]*(?:${escaped.join('|')})[ \\t]*(?:;|$)`;
}

export interface RequestSizeGuardProps {
  /** The stage the web ACL is associated with. */
  readonly stage: Stage;
  /** Prefix of the web ACL's name and metrics, e.g. `tierline-prod`. */
  readonly namePrefix: string;
  /**
   * `Access-Control-Allow-Origin` of the 413, so a browser app can read it: a single origin or `*`.
   * @default none (WAF answers a literal; several allowed origins cannot be echoed)
   */
  readonly allowOrigin?: string;
}

const TEXT_BODY_KEY = 'request-too-large';
const UPLOAD_BODY_KEY = 'upload-too-large';

/**
 * A regional AWS WAF web ACL on the API stage that answers 413 in OpenAI's shape for a request
 * whose declared `Content-Length` the API function could not receive. API Gateway accepts 10 MB,
 * Lambda's event takes 6 MB: between the two, API Gateway gets Lambda's refusal and answers a
 * generic 5xx, which no gateway response can turn into a 413 for that case alone (its response
 * type covers every failed invocation). WAF decides before API Gateway invokes anything, and its
 * custom responses take precedence over gateway responses.
 *
 * Thresholds come from `lambda/openai/request-size.ts`, the limits the function itself enforces:
 * a multipart body (a binary media type, passed base64-encoded) above `MAX_MULTIPART_REQUEST_BYTES`,
 * any other above `MAX_REQUEST_BYTES`. A body sent chunked declares no length: WAF sees at most the
 * first 64 KB of a body, so such a request still reaches API Gateway's own handling.
 */
export class RequestSizeGuard extends Construct {
  public readonly webAcl: CfnWebACL;

  constructor(scope: Construct, id: string, props: RequestSizeGuardProps) {
    super(scope, id);
    const responseHeaders = props.allowOrigin
      ? [{ name: 'access-control-allow-origin', value: props.allowOrigin }]
      : undefined;
    const tooLarge = (bodyKey: string): CfnWebACL.RuleActionProperty => ({
      block: {
        customResponse: { responseCode: 413, customResponseBodyKey: bodyKey, responseHeaders },
      },
    });
    const visibility = (metricName: string): CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      metricName,
      // Sampled requests keep their headers, the customer's API key among them.
      sampledRequestsEnabled: false,
    });

    this.webAcl = new CfnWebACL(this, 'WebAcl', {
      name: `${props.namePrefix}-request-size`,
      description: 'Answers 413, OpenAI-shaped, to bodies larger than the API function can receive',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(`${props.namePrefix}-request-size`),
      customResponseBodies: {
        [TEXT_BODY_KEY]: {
          contentType: 'APPLICATION_JSON',
          content: JSON.stringify(new PayloadTooLargeError(MAX_REQUEST_BYTES).toBody()),
        },
        [UPLOAD_BODY_KEY]: {
          contentType: 'APPLICATION_JSON',
          content: JSON.stringify(new UploadTooLargeError('The request body').toBody()),
        },
      },
      rules: [
        {
          // First: a multipart body has the lower limit, and its answer points to the Uploads API.
          name: 'MultipartBodyTooLarge',
          priority: 0,
          action: tooLarge(UPLOAD_BODY_KEY),
          visibilityConfig: visibility(`${props.namePrefix}-multipart-too-large`),
          statement: {
            andStatement: {
              statements: [
                headerMatches('content-type', mediaTypePattern(BINARY_MEDIA_TYPES), 'LOWERCASE'),
                headerMatches('content-length', decimalAbovePattern(MAX_MULTIPART_REQUEST_BYTES)),
              ],
            },
          },
        },
        {
          name: 'BodyTooLarge',
          priority: 1,
          action: tooLarge(TEXT_BODY_KEY),
          visibilityConfig: visibility(`${props.namePrefix}-body-too-large`),
          statement: headerMatches('content-length', decimalAbovePattern(MAX_REQUEST_BYTES)),
        },
      ],
    });

    // stageArn refers to the stage, so CloudFormation associates only once the stage exists.
    new CfnWebACLAssociation(this, 'StageAssociation', {
      resourceArn: props.stage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
  }
}

function headerMatches(
  header: string,
  regexString: string,
  transformation: 'NONE' | 'LOWERCASE' = 'NONE',
): CfnWebACL.StatementProperty {
  if (regexString.length > WAF_REGEX_MAX_LENGTH) {
    throw new Error(`WAF allows ${WAF_REGEX_MAX_LENGTH} characters of regex; ${header}'s has more`);
  }
  return {
    regexMatchStatement: {
      fieldToMatch: { singleHeader: { Name: header } },
      regexString,
      textTransformations: [{ priority: 0, type: transformation }],
    },
  };
}
