import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * A resource as cdk-nag prints it in an IAM5 finding id: literals kept, `Ref` of a pseudo parameter
 * as `<AWS::Name>`, `GetAtt` as `<LogicalId.Attr>`. Rendering the same value the policy holds keeps
 * each acknowledgement exact in every environment (with or without an account and region).
 */
export function nagResource(scope: IConstruct, value: string): string {
  const render = (node: unknown): string => {
    if (typeof node === 'string') return node;
    if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (typeof o.Ref === 'string') return `<${o.Ref}>`;
      if (Array.isArray(o['Fn::GetAtt'])) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
      if (Array.isArray(o['Fn::Join'])) {
        const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
        return parts.map(render).join(separator);
      }
    }
    return JSON.stringify(node);
  };
  return render(Stack.of(scope).resolve(value));
}

/** Acknowledges the IAM5 finding of each wildcard resource, with one reason. */
export function acknowledgeWildcards(role: IConstruct, resources: string[], reason: string): void {
  for (const resource of resources) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::${nagResource(role, resource)}]`,
      reason,
    });
  }
}
