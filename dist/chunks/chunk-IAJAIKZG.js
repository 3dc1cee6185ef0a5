import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{d as e}from"./chunk-S7RLN7HY.js";function i(r){if(typeof r=="number")return r<1e12?r*1e3:r;if(typeof r!="string")return;let n=Date.parse(r);return Number.isNaN(n)?void 0:n}function s(r,n,t){return e.secret(r),{token:r,authorization:n(r),expiresAt:i(t),trusted:!0}}export{s as a};
