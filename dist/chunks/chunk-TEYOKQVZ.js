import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
function d(n,e,i,r){if(n!==void 0)return{file:i,same:n===""?void 0:n===e,url:r}}export{d as a};
