import zones from './emr-serverless-zones.json';

/**
 * The Availability Zones (AZ IDs) EMR Serverless runs in, for the regions where it runs in only some
 * (`emr-serverless-zones.json`, from the service endpoints table of the EMR Serverless User Guide). Subnets of an
 * application's network configuration in another zone of such a region cannot host its workers.
 */
export const EMR_SERVERLESS_ZONES: Readonly<Record<string, readonly string[]>> = zones.regions;
export const EMR_SERVERLESS_ZONES_SOURCE = zones.source;

/** An AZ ID: `<region code>-az<n>`, e.g. `use1-az4`. */
export const AZ_ID_PATTERN = /^[a-z]{2,4}\d-az\d+$/;

/** The region of an AZ ID of a restricted region (`use1-az4` → `us-east-1`), else undefined. */
export function restrictedRegionOfZoneId(zoneId: string): string | undefined {
  const prefix = zoneId.replace(/-az\d+$/, '');
  return Object.entries(EMR_SERVERLESS_ZONES).find(([, ids]) => ids.some((id) => id.startsWith(`${prefix}-az`)))?.[0];
}

/** The zone IDs of `region` EMR Serverless supports, or undefined when the region has no documented restriction. */
export function supportedZoneIds(region: string): readonly string[] | undefined {
  return EMR_SERVERLESS_ZONES[region];
}

/**
 * Why EMR Serverless cannot use `zoneId` (in `region`, when known), or undefined when it can (or nothing says
 * otherwise).
 */
export function unsupportedZoneReason(zoneId: string, region?: string): string | undefined {
  const zoneRegion = restrictedRegionOfZoneId(zoneId);
  if (region && zoneRegion && zoneRegion !== region) return `${zoneId} is a zone of ${zoneRegion}, not of the stage's region ${region}`;
  const supported = supportedZoneIds(zoneRegion ?? region ?? '');
  if (supported && !supported.includes(zoneId)) {
    return `EMR Serverless does not run in ${zoneId}: in ${zoneRegion ?? region} it supports only ${supported.join(', ')} (${EMR_SERVERLESS_ZONES_SOURCE})`;
  }
  return undefined;
}
