import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
function f(n,e,i,r,d="sha256"){if(n!==void 0)return n===""?{file:i,same:void 0,url:r}:{file:i,same:n===e,url:r,digests:{algorithm:d,ours:e,stored:n}}}export{f as a};
